"""Kaldi data-dir I/O: each reader's happy path and each error with its file and line; writers sort in the C locale
and write atomically; files round-trip."""

from __future__ import annotations

import os
import subprocess

import pytest

from asr.data.atomic import atomic_write
from asr.data.kaldi_dir import (
    Segment,
    c_sorted,
    iter_kv_lines,
    read_kv,
    read_segments,
    read_spk2utt,
    read_text,
    read_utt2dur,
    read_utt2spk,
    read_wav_scp,
    utt2spk_to_spk2utt,
    write_kv,
    write_spk2utt,
    write_text,
)
from asr.errors import InputError


def _w(path, data: str | bytes):
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def test_read_text_tab_or_space_empty_transcripts_and_bom(tmp_path):
    p = _w(tmp_path / "text", "\ufeffu1\t今天 天气  好\nu2 hello world\r\nu3\n\nu4   \n")
    assert read_text(p) == {"u1": "今天 天气  好", "u2": "hello world", "u3": "", "u4": ""}
    assert list(iter_kv_lines(p))[0] == (1, "u1", "今天 天气  好")


@pytest.mark.parametrize(
    "content,line,message",
    [
        (b"u1 a\nu1 b\n", 2, "duplicate key 'u1' (first on line 1)"),
        (b"u1 a\n b\n", 2, "line starts with whitespace"),
        (b"u1 a\nu2 \xe4\xb8\n", 2, "not valid UTF-8"),
    ],
)
def test_read_text_errors_name_file_and_line(tmp_path, content, line, message):
    p = _w(tmp_path / "text", content)
    with pytest.raises(InputError) as e:
        read_text(p)
    assert e.value.line == line and e.value.path == str(p)
    assert message in str(e.value) and str(e.value).startswith(f"{p}:{line}: ")


def test_require_sorted(tmp_path):
    p = _w(tmp_path / "text", "b x\na y\n")
    assert read_text(p) == {"b": "x", "a": "y"}
    with pytest.raises(InputError, match=r"text:2: key 'a' is out of order.*LC_ALL=C sort"):
        read_text(p, require_sorted=True)


def test_c_sorted_is_byte_order_like_lc_all_c_sort(tmp_path):
    keys = ["b", "B", "a-1", "a_1", "a.1", "ä", "中", "Z", "10", "9", "a"]
    r = subprocess.run(
        ["sort"],
        input="\n".join(keys) + "\n",
        capture_output=True,
        text=True,
        env={**os.environ, "LC_ALL": "C"},
    )
    assert c_sorted(keys) == r.stdout.split()


def test_wav_scp_and_utt2spk(tmp_path):
    p = _w(tmp_path / "wav.scp", "r1 /data/r1.wav\nr2 sox /data/r2.flac -t wav - |\n")
    assert read_wav_scp(p)["r2"] == "sox /data/r2.flac -t wav - |"
    with pytest.raises(InputError, match="wav.scp:1: key 'r1' has no value"):
        read_wav_scp(_w(tmp_path / "wav.scp", "r1\n"))
    assert read_utt2spk(_w(tmp_path / "utt2spk", "u1 s1\nu2 s1\n")) == {"u1": "s1", "u2": "s1"}
    with pytest.raises(InputError, match="utt2spk:2: utterance 'u2' must map to exactly one speaker"):
        read_utt2spk(_w(tmp_path / "utt2spk", "u1 s1\nu2 s1 s2\n"))


def test_spk2utt_round_trip(tmp_path):
    u2s = {"s2-b": "s2", "s1-a": "s1", "s1-c": "s1"}
    s2u = utt2spk_to_spk2utt(u2s)
    assert s2u == {"s1": ["s1-a", "s1-c"], "s2": ["s2-b"]}
    write_spk2utt(tmp_path / "spk2utt", s2u)
    assert (tmp_path / "spk2utt").read_text() == "s1 s1-a s1-c\ns2 s2-b\n"
    assert read_spk2utt(tmp_path / "spk2utt") == s2u


def test_segments(tmp_path):
    p = _w(tmp_path / "segments", "u1 rec1 0.0 1.5\nu2 rec1 1.5 -1\n")
    assert read_segments(p) == {"u1": Segment("rec1", 0.0, 1.5), "u2": Segment("rec1", 1.5, -1)}
    for bad, msg in [
        ("u1 rec1 0.0\n", "expected 'utt recording start end'"),
        ("u1 rec1 a b\n", "must be numbers"),
        ("u1 rec1 2.0 1.0\n", "bad segment times"),
        ("u1 rec1 0 1\nu1 rec1 1 2\n", "duplicate key 'u1'"),
    ]:
        with pytest.raises(InputError, match=msg):
            read_segments(_w(tmp_path / "segments", bad))


def test_utt2dur(tmp_path):
    assert read_utt2dur(_w(tmp_path / "utt2dur", "u1 1.25\n")) == {"u1": 1.25}
    with pytest.raises(InputError, match="utt2dur:1: duration must be a number, got 'x'"):
        read_utt2dur(_w(tmp_path / "utt2dur", "u1 x\n"))


def test_write_sorts_and_round_trips(tmp_path):
    texts = {"u10": "十", "u2": "b c", "U1": "", "中": "x"}
    write_text(tmp_path / "text", texts)
    raw = (tmp_path / "text").read_text(encoding="utf-8")
    assert raw == "U1\nu10 十\nu2 b c\n中 x\n"
    assert read_text(tmp_path / "text", require_sorted=True) == texts
    write_kv(tmp_path / "unsorted", [("b", "1"), ("a", "2")], sort=False)
    assert (tmp_path / "unsorted").read_text() == "b 1\na 2\n"


def test_write_rejects_keys_that_would_not_read_back(tmp_path):
    for key in ["", "a b", "a\tb"]:
        with pytest.raises(ValueError, match="keys must be non-empty"):
            write_kv(tmp_path / "x", {key: "v"})
    assert not (tmp_path / "x").exists()


def test_write_is_atomic_on_error(tmp_path):
    p = _w(tmp_path / "text", "old 1\n")
    with pytest.raises(RuntimeError):
        with atomic_write(p) as f:
            f.write("new 2\n")
            raise RuntimeError("interrupted")
    assert p.read_text() == "old 1\n"
    assert [f.name for f in tmp_path.iterdir()] == ["text"]  # no temporary file left behind
    with atomic_write(p) as f:
        f.write("new 2\n")
    assert p.read_text() == "new 2\n"


def test_written_files_are_readable_by_others(tmp_path):
    write_text(tmp_path / "text", {"a": "b"})
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "text").stat().st_mode & 0o777 == 0o666 & ~mask


def test_read_kv_allow_empty(tmp_path):
    p = _w(tmp_path / "f", "a\n")
    assert read_kv(p) == {"a": ""}
    with pytest.raises(InputError, match="key 'a' has no value"):
        read_kv(p, allow_empty_value=False)
