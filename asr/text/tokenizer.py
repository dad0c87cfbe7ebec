"""Tokenizers behind one interface: text -> token ids of ``tokens.txt`` -> text.

Three kinds, chosen by ``kind`` in ``tokenizer.yaml``:

- ``char`` (:class:`CharTokenizer`): each CJK character is a token; Latin (non-CJK) words are whole-word tokens
  (``latin: word``) or letters (``latin: letter``), the first letter of a word carrying the ``▁`` word-start mark as
  sentencepiece pieces do (``▁h e l l o``).
- ``bpe`` / ``unigram`` (:class:`SentencePieceTokenizer`): a sentencepiece model trained by us on the training text.
- ``mixed`` (:class:`MixedTokenizer`): CJK characters as single tokens, a sentencepiece model for the Latin runs.

``tokens.txt`` always starts ``<blk> 0``, ``<sos/eos> 1``, ``<unk> 2``; the rest are the pieces. Text is normalized
(:mod:`asr.text.normalize`, options saved in ``tokenizer.yaml``) before encoding, and ``decode`` returns the same
canonical form. A piece outside the token set maps to ``<unk>``, or raises ``ValueError`` naming the character
when ``strict``. A model/tokenizer directory holds ``tokens.txt``, ``tokenizer.yaml`` and, for sentencepiece kinds,
``bpe.model`` (the name is used for unigram models too).

Reference: Kudo & Richardson, "SentencePiece", EMNLP 2018; WeNet/FunASR ``tokenizer`` packages (char, bpe, and
CJK+BPE mixed tokenizers), icefall's ``▁`` word-start convention for lexicon-free graphs.
"""

from __future__ import annotations

import io
import logging
import os
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from asr.data.atomic import atomic_write
from asr.errors import CifstError, InputError
from asr.text.normalize import NormalizeConfig, is_cjk, join_units, normalize_text, split_cjk
from asr.text.symbol_table import SymbolTable

__all__ = [
    "TokenizerConfig",
    "Tokenizer",
    "CharTokenizer",
    "SentencePieceTokenizer",
    "MixedTokenizer",
    "load_tokenizer",
    "train_tokenizer",
    "SPECIALS",
    "WORD_START",
]

log = logging.getLogger(__name__)

BLANK, SOS_EOS, UNK = "<blk>", "<sos/eos>", "<unk>"
SPECIALS = (BLANK, SOS_EOS, UNK)
WORD_START = "\u2581"  # ▁
KINDS = ("char", "bpe", "unigram", "mixed")
SP_MODEL = "bpe.model"


@dataclass
class TokenizerConfig:
    """``tokenizer.yaml``.

    Attributes:
        kind: ``char``, ``bpe``, ``unigram`` or ``mixed``.
        latin: For ``char``: Latin words as whole-word tokens (``word``) or letters (``letter``).
        sp_model_type: For ``mixed``: sentencepiece model type of the Latin part (``bpe`` or ``unigram``).
        strict: ``encode`` raises on pieces outside the token set instead of mapping them to ``<unk>``.
        normalize: Text normalization applied before encoding.
    """

    kind: str = "char"
    latin: str = "letter"
    sp_model_type: str = "bpe"
    strict: bool = False
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)

    def __post_init__(self):
        if isinstance(self.normalize, dict):
            self.normalize = NormalizeConfig(**self.normalize)
        if self.kind not in KINDS:
            raise ValueError(f"tokenizer kind must be one of {', '.join(KINDS)}, got '{self.kind}'")
        if self.latin not in ("word", "letter"):
            raise ValueError(f"latin must be 'word' or 'letter', got '{self.latin}'")
        if self.sp_model_type not in ("bpe", "unigram"):
            raise ValueError(f"sp_model_type must be 'bpe' or 'unigram', got '{self.sp_model_type}'")


def _describe_piece(piece: str) -> str:
    chars = [c for c in piece if c != WORD_START] or [piece]
    return ", ".join(f"'{c}' (U+{ord(c):04X} {unicodedata.name(c, 'unnamed')})" for c in chars)


class Tokenizer:
    """Common interface; subclasses implement :meth:`_pieces` (normalized text -> raw piece strings).

    Args:
        symbols: ``tokens.txt`` (id 0 blank).
        config: The ``tokenizer.yaml`` options.
    """

    @property
    def kind(self) -> str:
        """``char``, ``bpe``, ``unigram`` or ``mixed`` (from ``tokenizer.yaml``)."""
        return self.config.kind

    def __init__(self, symbols: SymbolTable, config: TokenizerConfig):
        self.symbols = symbols
        self.config = config
        self.strict = config.strict
        if symbols.get(UNK) is None:
            raise ValueError(f"tokens.txt has no {UNK} symbol")
        self.blank_id = 0
        self.unk_id = symbols.id(UNK)
        sos = symbols.get(SOS_EOS, symbols.get("<s>"))
        eos = symbols.get(SOS_EOS, symbols.get("</s>"))
        self.sos_id = -1 if sos is None else sos
        self.eos_id = -1 if eos is None else eos
        self._specials = {i for i in (0, self.unk_id, self.sos_id, self.eos_id) if i >= 0}

    # -- to implement -------------------------------------------------------------------------------------------
    def _pieces(self, text: str) -> list[str]:
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        """Number of entries of ``tokens.txt`` (the posterior width)."""
        return self.symbols.max_id + 1

    def normalize(self, text: str) -> str:
        """Apply the tokenizer's normalization (what :meth:`decode` returns for text in the token set)."""
        return normalize_text(text, self.config.normalize)

    def unknown_pieces(self, text: str) -> list[str]:
        """Pieces of ``text`` that are not in ``tokens.txt`` (each would become ``<unk>``)."""
        return [p for p in self._pieces(self.normalize(text)) if p not in self.symbols]

    def encode(self, text: str, strict: bool | None = None) -> list[int]:
        """Text -> token ids (no blank, no sos/eos).

        Args:
            text: Raw text (normalized here).
            strict: Override the configured strictness.

        Raises:
            ValueError: in strict mode, naming the first piece/character that is not in ``tokens.txt``.
        """
        strict = self.strict if strict is None else strict
        ids = []
        for piece in self._pieces(self.normalize(text)):
            idx = self.symbols.get(piece)
            if idx is None:
                if strict:
                    raise ValueError(
                        f"cannot map {_describe_piece(piece)} in '{text}' to a token of tokens.txt "
                        "(retrain the tokenizer on text that has it, or encode with strict=False to use <unk>)"
                    )
                idx = self.unk_id
            ids.append(idx)
        return ids

    def tokenize(self, text: str) -> list[str]:
        """Text -> token strings (unknown pieces as ``<unk>``)."""
        return [self.symbols.symbol(i) for i in self.encode(text, strict=False)]

    def decode(self, ids: Iterable[int]) -> str:
        """Token ids -> normalized text; blank and sos/eos are skipped, ``<unk>`` stays as ``<unk>``."""
        pieces = []
        for i in ids:
            i = int(i)
            if i in self._specials and i != self.unk_id:
                continue
            pieces.append(self.symbols.symbol(i))
        text = "".join(pieces).replace(WORD_START, " ")
        return join_units(split_cjk(text))

    def is_word_start(self, id: int) -> bool:
        """True when the token begins a word: a ``▁`` piece, or a piece starting with a CJK character."""
        if id in self._specials or id not in self.symbols:
            return False
        sym = self.symbols.symbol(id)
        return sym.startswith(WORD_START) or is_cjk(sym[0])

    def save(self, out_dir: str | os.PathLike) -> None:
        """Write ``tokens.txt`` and ``tokenizer.yaml`` (and the sentencepiece model) into ``out_dir``."""
        import yaml

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        self.symbols.write(out_dir / "tokens.txt")
        with atomic_write(out_dir / "tokenizer.yaml") as f:
            yaml.safe_dump(asdict(self.config), f, sort_keys=False, allow_unicode=True)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kind={self.config.kind}, vocab_size={self.vocab_size})"


def _table(pieces: Iterable[str]) -> SymbolTable:
    table = SymbolTable(SPECIALS)
    for p in pieces:
        if p not in table:
            table.add(p)
    return table


class CharTokenizer(Tokenizer):
    """CJK characters, plus Latin words or letters (``config.latin``)."""

    def _pieces(self, text: str) -> list[str]:
        out: list[str] = []
        word_mode = self.config.latin == "word"
        for unit in split_cjk(text):
            if len(unit) == 1 and is_cjk(unit):
                out.append(unit)
            elif word_mode:
                out.append(WORD_START + unit)
            else:
                out.append(WORD_START + unit[0])
                out.extend(unit[1:])
        return out

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int, config: TokenizerConfig) -> CharTokenizer:
        """Collect the pieces of normalized ``texts``; keep the ``vocab_size - 3`` most frequent (all when
        ``vocab_size <= 0``), ordered by frequency then code point."""
        probe = cls(_table(()), config)
        counts: Counter[str] = Counter()
        for t in texts:
            counts.update(probe._pieces(normalize_text(t, config.normalize)))
        ranked = sorted(counts, key=lambda p: (-counts[p], p))
        if vocab_size > 0 and len(ranked) > vocab_size - len(SPECIALS):
            dropped = ranked[vocab_size - len(SPECIALS) :]
            log.warning(
                "char tokenizer: %d pieces seen, keeping the %d most frequent; %d rare ones (e.g. %s) become <unk>",
                len(ranked),
                vocab_size - len(SPECIALS),
                len(dropped),
                ", ".join(dropped[:5]),
            )
            ranked = ranked[: vocab_size - len(SPECIALS)]
        if not ranked:
            raise CifstError("no text to train the tokenizer on (all lines empty after normalization)")
        return cls(_table(ranked), config)


def _train_sentencepiece(texts: list[str], vocab_size: int, model_type: str) -> bytes:
    """Train a sentencepiece model on normalized lines; returns the serialized model."""
    import sentencepiece as spm

    lines = [t for t in texts if t]
    if not lines:
        raise CifstError("no text to train the sentencepiece model on (all lines empty after normalization)")
    writer = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines),
            model_writer=writer,
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=1.0,
            normalization_rule_name="identity",
            unk_id=0,
            bos_id=-1,
            eos_id=-1,
            pad_id=-1,
            hard_vocab_limit=False,
            num_threads=1,
            minloglevel=2,
            input_sentence_size=2_000_000,
            shuffle_input_sentence=True,
        )
    except RuntimeError as e:
        chars = len(set("".join(lines).replace(" ", ""))) + 2
        raise CifstError(
            f"sentencepiece could not train a {model_type} model with {vocab_size} pieces: {e}. "
            f"The text has about {chars} distinct characters; pick --vocab-size between {chars + 3} and a few "
            "thousand, or train on more text"
        ) from None
    return writer.getvalue()


class _SentencePieceBase(Tokenizer):
    """Holds a sentencepiece processor whose pieces (except its ``<unk>``) are all in ``tokens.txt``."""

    def __init__(self, symbols: SymbolTable, config: TokenizerConfig, model: bytes, source: str = SP_MODEL):
        super().__init__(symbols, config)
        import sentencepiece as spm

        self.model_bytes = model
        self.sp = spm.SentencePieceProcessor(model_proto=model)
        missing = [p for p in self._sp_pieces(self.sp) if p not in symbols]
        if missing:
            raise InputError(
                source,
                None,
                f"{len(missing)} pieces of the sentencepiece model are not in tokens.txt "
                f"(e.g. '{missing[0]}'): tokens.txt and {SP_MODEL} come from different trainings",
            )

    @staticmethod
    def _sp_pieces(sp) -> list[str]:
        return [
            sp.id_to_piece(i)
            for i in range(sp.get_piece_size())
            if not (sp.is_unknown(i) or sp.is_control(i))
        ]

    def __getstate__(self) -> dict:
        # the sentencepiece processor is a C++ object: rebuild it from the model bytes (DataLoader workers, spawn)
        state = self.__dict__.copy()
        del state["sp"]
        return state

    def __setstate__(self, state: dict) -> None:
        import sentencepiece as spm

        self.__dict__.update(state)
        self.sp = spm.SentencePieceProcessor(model_proto=self.model_bytes)

    def save(self, out_dir: str | os.PathLike) -> None:
        super().save(out_dir)
        with atomic_write(Path(out_dir) / SP_MODEL, "wb") as f:
            f.write(self.model_bytes)


class SentencePieceTokenizer(_SentencePieceBase):
    """BPE or unigram pieces from a sentencepiece model trained on the (normalized) training text."""

    def _pieces(self, text: str) -> list[str]:
        return self.sp.encode(text, out_type=str) if text else []

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int, config: TokenizerConfig) -> SentencePieceTokenizer:
        """Train on ``texts``; ``vocab_size`` counts every line of ``tokens.txt`` (3 specials included)."""
        if vocab_size < 8:
            raise CifstError(f"--vocab-size {vocab_size} is too small for a {config.kind} model (use >= 8)")
        norm = [normalize_text(t, config.normalize) for t in texts]
        model = _train_sentencepiece(norm, vocab_size - len(SPECIALS) + 1, config.kind)
        import sentencepiece as spm

        return cls(_table(cls._sp_pieces(spm.SentencePieceProcessor(model_proto=model))), config, model)


class MixedTokenizer(_SentencePieceBase):
    """CJK characters as tokens; runs of non-CJK words go through a sentencepiece model."""

    def _pieces(self, text: str) -> list[str]:
        out: list[str] = []
        run: list[str] = []
        for unit in split_cjk(text) + [""]:
            if unit and not (len(unit) == 1 and is_cjk(unit)):
                run.append(unit)
                continue
            if run:
                out.extend(self.sp.encode(" ".join(run), out_type=str))
                run = []
            if unit:
                out.append(unit)
        return out

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int, config: TokenizerConfig) -> MixedTokenizer:
        """All CJK characters seen become tokens (most frequent first); the sentencepiece model of the Latin
        part gets the rest of ``vocab_size``."""
        import sentencepiece as spm

        cjk: Counter[str] = Counter()
        latin: list[str] = []
        for t in texts:
            units = split_cjk(normalize_text(t, config.normalize))
            cjk.update(u for u in units if len(u) == 1 and is_cjk(u))
            words = [u for u in units if not (len(u) == 1 and is_cjk(u))]
            if words:
                latin.append(" ".join(words))
        chars = sorted(cjk, key=lambda c: (-cjk[c], c))
        if not latin:
            raise CifstError("mixed tokenizer: the training text has no Latin words; use --kind char")
        sp_size = vocab_size - len(SPECIALS) - len(chars) + 1
        if sp_size < 8:
            raise CifstError(
                f"mixed tokenizer: --vocab-size {vocab_size} leaves {sp_size} pieces for the Latin part after "
                f"{len(chars)} CJK characters; raise --vocab-size to at least {len(chars) + len(SPECIALS) + 100}"
            )
        model = _train_sentencepiece(latin, sp_size, config.sp_model_type)
        sp = spm.SentencePieceProcessor(model_proto=model)
        return cls(_table(chars + cls._sp_pieces(sp)), config, model)


def _class_for(kind: str):
    return {"char": CharTokenizer, "bpe": SentencePieceTokenizer, "unigram": SentencePieceTokenizer}.get(
        kind, MixedTokenizer
    )


def train_tokenizer(
    kind: str,
    texts: Iterable[str],
    vocab_size: int,
    out_dir: str | os.PathLike | None = None,
    config: TokenizerConfig | None = None,
) -> Tokenizer:
    """Train a tokenizer on raw training text and save it.

    Args:
        kind: ``char``, ``bpe``, ``unigram`` or ``mixed``.
        texts: Transcripts (raw; normalized with ``config.normalize``).
        vocab_size: Lines of ``tokens.txt`` including ``<blk>``, ``<sos/eos>``, ``<unk>`` (for ``char``, 0 keeps
            every character seen). Sentencepiece may stop short of it on small text (logged).
        out_dir: Where to write ``tokens.txt``, ``tokenizer.yaml`` (+ ``bpe.model``); ``None`` saves nothing.
        config: Further options; its ``kind`` is replaced by ``kind``.

    Returns:
        The trained tokenizer.

    Raises:
        CifstError: no text, or a vocabulary size sentencepiece cannot reach (the message gives a usable range).
    """
    base = config or TokenizerConfig()
    config = TokenizerConfig(**{**asdict(base), "kind": kind, "normalize": base.normalize})
    tok = _class_for(kind).train(list(texts), vocab_size, config)
    if vocab_size > 0 and tok.vocab_size < vocab_size:
        log.warning(
            "%s tokenizer has %d tokens, fewer than --vocab-size %d (small text)",
            kind,
            tok.vocab_size,
            vocab_size,
        )
    if out_dir is not None:
        tok.save(out_dir)
    return tok


def load_tokenizer(path: str | os.PathLike) -> Tokenizer:
    """Load a tokenizer from a model or tokenizer directory (or the path of a file inside one).

    A directory with ``tokens.txt`` but no ``tokenizer.yaml`` (a tokens file made by another tool) loads as a
    :class:`CharTokenizer`, in ``word`` mode when its ``▁`` tokens are whole words.

    Raises:
        InputError: missing or inconsistent files, naming the file and what to do.
    """
    import yaml

    path = Path(path)
    folder = path.parent if path.is_file() else path
    tokens = folder / "tokens.txt"
    if not tokens.exists():
        raise InputError(
            tokens,
            None,
            "no tokens.txt: pass the model or tokenizer directory "
            "(made by `cifst tokenizer train` or `cifst train`)",
        )
    symbols = SymbolTable.read(tokens, require_dense=True)
    conf_path = folder / "tokenizer.yaml"
    if not conf_path.exists():
        word = any(s.startswith(WORD_START) and len(s) > 2 for s in symbols.symbols)
        config = TokenizerConfig(kind="char", latin="word" if word else "letter")
    else:
        data = yaml.safe_load(conf_path.read_text(encoding="utf-8")) or {}
        try:
            config = TokenizerConfig(**data)
        except (TypeError, ValueError) as e:
            raise InputError(conf_path, None, f"bad tokenizer config: {e}") from None
    try:
        if config.kind == "char":
            return CharTokenizer(symbols, config)
        model = folder / SP_MODEL
        if not model.exists():
            raise InputError(model, None, f"missing: a {config.kind} tokenizer needs its sentencepiece model")
        return _class_for(config.kind)(symbols, config, model.read_bytes(), str(model))
    except ValueError as e:
        raise InputError(tokens, None, str(e)) from None
