"""kenlm's intermediate model files (lmplz ``--intermediate PREFIX``): writer, reader, and ARPA from them.

Input (writer): per order, blocks of n-grams as word ids (oldest first), log10 probabilities (or q values) and
log10 back-offs, in the order they are written to the ARPA under ``--renumber``. Output: the files kenlm's
``interpolate`` program reads, byte-compatible with lmplz's:

* ``PREFIX.vocab``: the words in (renumbered) id order, each followed by a NUL byte, ``<unk>`` first;
* ``PREFIX.1`` .. ``PREFIX.N``: one record per n-gram: uint32 [n] word ids, float32 log10 p (or q), float32
  log10 back-off (0 at the top order and with q), little-endian, in suffix order of the ids;
* ``PREFIX.kenlm_intermediate``: ``KenLM intermediate binary file`` / ``Counts c1 .. cN`` / ``Payload pb|q``.

The reader turns such files (ours or lmplz's) back into an ARPA (``cifst lm from-intermediate``), so a build can be
split: estimate once into intermediate files, write ARPA (or interpolate with kenlm) later.

Reference: kenlm ``lm/common/model_buffer.cc`` (file layout) and ``lm/builder/output.cc``; our own code.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from asr.errors import InputError

__all__ = ["IntermediateWriter", "read_intermediate", "intermediate_to_arpa", "record_dtype"]

HEADER = "KenLM intermediate binary file"


def record_dtype(n: int) -> np.dtype:
    """The on-disk record of an n-gram: ``w`` uint32 [n], ``p`` float32, ``b`` float32 (packed, little-endian)."""
    return np.dtype([("w", "<u4", (n,)), ("p", "<f4"), ("b", "<f4")])


class IntermediateWriter:
    """Streams the sections of a model into kenlm intermediate files; they appear under their names on ``close``.

    Args:
        prefix: File prefix (``PREFIX.1`` ...).
        vocab: Words by (old) id.
        new_id: int64 [V] the id each word gets in the files (lmplz renumbers: :func:`lm.renumber.renumbered_ids`).
        counts: n-grams per order.
        q: Payload is q (``--collapse_values``) instead of probability + back-off.
    """

    def __init__(
        self, prefix: str | os.PathLike, vocab: list[str], new_id: np.ndarray, counts: list[int], q: bool
    ):
        self.prefix = str(prefix)
        self.vocab, self.new_id, self.counts, self.q = vocab, np.asarray(new_id, np.int64), counts, q
        self._f = None
        self._order = 0
        self._tmp: list[tuple[str, str]] = []
        Path(self.prefix).parent.mkdir(parents=True, exist_ok=True)

    def begin_order(self, k: int) -> None:
        if self._f is not None:
            self._f.close()
        final = f"{self.prefix}.{k}"
        tmp = f"{final}.partial"
        self._tmp.append((tmp, final))
        self._f = open(tmp, "wb")
        self._order = k

    def add(self, cols: np.ndarray, logprob: np.ndarray, backoff: np.ndarray | None) -> None:
        """Append records: cols int64 [r, k] old word ids, logprob float32 [r], backoff float32 [r] or ``None``."""
        rec = np.empty(len(cols), record_dtype(self._order))
        rec["w"] = self.new_id[cols]
        rec["p"] = logprob
        rec["b"] = 0.0 if backoff is None else backoff
        self._f.write(rec.tobytes())

    def close(self, success: bool) -> None:
        """Rename the finished files into place (success) or delete them."""
        if self._f is not None:
            self._f.close()
            self._f = None
        if not success:
            for tmp, _ in self._tmp:
                Path(tmp).unlink(missing_ok=True)
            return
        for tmp, final in self._tmp:
            os.replace(tmp, final)
        words = [""] * len(self.vocab)
        for old, new in enumerate(self.new_id.tolist()):
            words[new] = self.vocab[old]
        Path(f"{self.prefix}.vocab").write_bytes(b"".join(w.encode("utf-8") + b"\0" for w in words))
        meta = f"{HEADER}\nCounts {' '.join(map(str, self.counts))}\nPayload {'q' if self.q else 'pb'}\n"
        Path(f"{self.prefix}.kenlm_intermediate").write_text(meta)


def read_intermediate(prefix: str | os.PathLike) -> tuple[list[str], list[int], bool]:
    """Read the metadata and vocabulary of intermediate files.

    Returns:
        (words by id, n-gram counts per order, payload is q).

    Raises:
        InputError: Missing or malformed ``.kenlm_intermediate``, vocabulary or order files (file and line named).
    """
    meta = f"{prefix}.kenlm_intermediate"
    try:
        lines = Path(meta).read_text(encoding="utf-8").split("\n")
    except OSError as e:
        raise InputError(
            meta, None, f"cannot read intermediate metadata ({e.strerror}); wrong prefix?"
        ) from None
    if lines[0] != HEADER:
        raise InputError(meta, 1, f"begins with {lines[0]!r}, not {HEADER!r}")
    parts = lines[1].split(" ") if len(lines) > 1 else []
    if not parts or parts[0] != "Counts" or len(parts) < 2:
        raise InputError(meta, 2, "expected 'Counts c1 c2 ...'")
    try:
        counts = [int(x) for x in parts[1:]]
    except ValueError:
        raise InputError(meta, 2, f"non-integer count in {lines[1]!r}") from None
    payload = lines[2].split(" ") if len(lines) > 2 else []
    if len(payload) != 2 or payload[0] != "Payload" or payload[1] not in ("pb", "q"):
        raise InputError(meta, 3, "expected 'Payload pb' or 'Payload q'")
    vocab_path = f"{prefix}.vocab"
    try:
        raw = Path(vocab_path).read_bytes()
    except OSError as e:
        raise InputError(vocab_path, None, f"cannot read the vocabulary ({e.strerror})") from None
    words = raw.decode("utf-8").split("\0")
    if words and words[-1] == "":
        words.pop()
    if len(words) != counts[0] or (words and words[0] != "<unk>"):
        raise InputError(
            vocab_path,
            None,
            f"holds {len(words)} words (first {words[:1]}), the metadata says {counts[0]} "
            "beginning with <unk>",
        )
    for k, c in enumerate(counts, 1):
        size = os.path.getsize(f"{prefix}.{k}") if os.path.exists(f"{prefix}.{k}") else -1
        if size != c * record_dtype(k).itemsize:
            raise InputError(
                f"{prefix}.{k}", None, f"is {size} bytes; {c} {k}-grams need {c * record_dtype(k).itemsize}"
            )
    return words, counts, payload[1] == "q"


def intermediate_to_arpa(
    prefix: str | os.PathLike, out: str | os.PathLike | None, block: int = 200_000
) -> dict:
    """Write the model held in intermediate files as ARPA (lmplz's layout; stdout for ``None``/``"-"``).

    Returns:
        ``{order: n-grams}``.
    """
    from lm.arpa import ArpaWriter
    from lm.arpa_lines import encode_lines

    words, counts, q = read_intermediate(prefix)
    enc = [w.encode("utf-8") for w in words]
    vlen = np.array([len(w) for w in enc], np.int64)
    voff = np.cumsum(vlen) - vlen
    vbuf = np.frombuffer(b"".join(enc), np.uint8) if enc else np.zeros(0, np.uint8)
    top = len(counts)
    header = {k: c for k, c in enumerate(counts, 1)}
    with ArpaWriter(out, header) as w:
        for k in range(1, top + 1):
            w.begin_order(k)
            dt = record_dtype(k)
            with open(f"{prefix}.{k}", "rb") as f:
                done = 0
                while done < counts[k - 1]:
                    n = min(block, counts[k - 1] - done)
                    rec = np.fromfile(f, dt, count=n)
                    cols = rec["w"].reshape(n, k).astype(np.int64)
                    if cols.size and int(cols.max()) >= len(words):
                        raise InputError(
                            f"{prefix}.{k}", None, f"word id {int(cols.max())} >= {len(words)} words"
                        )
                    back = rec["b"] if k < top else None
                    w.write_raw(encode_lines(cols, vbuf, voff, vlen, rec["p"], back), n)
                    done += n
    return header
