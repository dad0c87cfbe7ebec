"""Data-dir validation (Kaldi validate_data_dir checks) and repair (fix_data_dir), library and CLI."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asr.cli import main
from asr.data.kaldi_dir import read_kv, read_spk2utt, read_text
from asr.data.validate import ValidateConfig, fix_data_dir, validate_data_dir
from asr.errors import InputError


def make_dir(d, **files):
    d.mkdir(parents=True, exist_ok=True)
    base = {
        "text": "s1-a 今天 好\ns1-b hello\ns2-a 再见\n",
        "utt2spk": "s1-a s1\ns1-b s1\ns2-a s2\n",
        "spk2utt": "s1 s1-a s1-b\ns2 s2-a\n",
        "wav.scp": "s1-a /w/a.wav\ns1-b /w/b.wav\ns2-a sox /w/c.flac -t wav - |\n",
    }
    base.update(files)
    for name, content in base.items():
        if content is None:
            continue
        p = d / name
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
    return d


def messages(report):
    return [str(p) for p in report.errors], [str(p) for p in report.warnings]


def test_valid_directory(tmp_path):
    r = validate_data_dir(make_dir(tmp_path / "d"))
    assert r.ok, messages(r)
    assert (r.num_utts, r.num_speakers) == (3, 2)
    assert not r.warnings


def test_missing_required_files(tmp_path):
    r = validate_data_dir(make_dir(tmp_path / "d", text=None, spk2utt=None))
    errs, _ = messages(r)
    assert any(e.endswith("text: required file is missing") for e in errs)
    assert any("spk2utt: required file is missing (cifst data fix creates it" in e for e in errs)
    assert validate_data_dir(make_dir(tmp_path / "e", text=None), ValidateConfig(no_text=True)).ok
    with pytest.raises(InputError, match="does not exist"):
        validate_data_dir(tmp_path / "nope")


def test_feature_only_directory_needs_no_wav_scp(tmp_path):
    """A dir with feats.scp and no wav.scp (features stand in for the audio, as in Kaldi) is valid without
    --no-wav; without either file wav.scp is reported missing."""
    feats = "s1-a f.ark:10\ns1-b f.ark:200\ns2-a f.ark:390\n"
    r = validate_data_dir(make_dir(tmp_path / "f", **{"wav.scp": None, "feats.scp": feats}))
    assert r.ok, messages(r)
    r = validate_data_dir(make_dir(tmp_path / "g", **{"wav.scp": None}))
    assert any(e.endswith("wav.scp: required file is missing") for e in messages(r)[0])


def test_unsorted_and_duplicate_and_bad_utf8(tmp_path):
    r = validate_data_dir(make_dir(tmp_path / "d", text="s1-b hello\ns1-a x\ns2-a y\n"))
    errs, _ = messages(r)
    assert any("text:2: key 's1-a' is out of order" in e for e in errs)
    r = validate_data_dir(make_dir(tmp_path / "e", text="s1-a x\ns1-a y\ns1-b z\ns2-a w\n"))
    assert any("text:2: duplicate key 's1-a'" in e for e in messages(r)[0])
    r = validate_data_dir(make_dir(tmp_path / "f", text=b"s1-a \xff\ns1-b x\ns2-a y\n"))
    assert any("text:1: not valid UTF-8" in e for e in messages(r)[0])


def test_key_set_mismatch_and_spk2utt(tmp_path):
    r = validate_data_dir(
        make_dir(
            tmp_path / "d",
            text="s1-a x\ns2-a y\ns9-z q\n",
            spk2utt="s1 s1-a\ns2 s2-a\n",
        )
    )
    errs, _ = messages(r)
    assert any("text: 1 utterance(s) of utt2spk are missing: 's1-b'" in e for e in errs)
    assert any("text: 1 utterance(s) are not in utt2spk: 's9-z'" in e for e in errs)
    assert any("spk2utt: does not match utt2spk for 1 speaker(s): 's1'" in e for e in errs)


def test_segments_checks(tmp_path):
    d = make_dir(
        tmp_path / "d",
        **{
            "wav.scp": "rec1 /w/1.wav\nrec3 /w/3.wav\n",
            "segments": "s1-a rec1 0 1\ns1-b rec1 1 2\ns2-a rec2 0 1\n",
        },
    )
    errs, warns = messages(validate_data_dir(d))
    assert any("segments: 1 segment(s) refer to recordings missing from wav.scp: 's2-a'" in e for e in errs)
    assert any("wav.scp: 1 recording(s) unused by segments" in w for w in warns)


def test_warnings_empty_text_speaker_prefix_and_audio(tmp_path):
    d = make_dir(
        tmp_path / "d",
        text="a-1 x\nb-1\n",
        utt2spk="a-1 zz\nb-1 aa\n",
        spk2utt="aa b-1\nzz a-1\n",
        **{"wav.scp": f"a-1 {tmp_path}/a.wav\nb-1 nosuchprogram x |\n"},
    )
    (tmp_path / "a.wav").write_bytes(b"")
    r = validate_data_dir(d, ValidateConfig(check_audio=True))
    assert r.ok, messages(r)
    _, warns = messages(r)
    assert any("1 empty transcript(s): 'b-1'" in w for w in warns)
    assert any("speaker ids as prefixes" in w for w in warns)
    assert any("program 'nosuchprogram'" in w for w in warns)
    (tmp_path / "a.wav").unlink()
    errs, _ = messages(validate_data_dir(d, ValidateConfig(check_audio=True)))
    assert any("audio file of 'a-1' does not exist" in e for e in errs)


def test_utt2dur_checked(tmp_path):
    d = make_dir(tmp_path / "d", utt2dur="s1-a 1.0\ns1-b 0\n")
    errs, _ = messages(validate_data_dir(d))
    assert any("utt2dur: 1 utterance(s) of utt2spk are missing: 's2-a'" in e for e in errs)
    assert any("non-positive duration" in e for e in errs)


def test_fix_sorts_drops_and_rebuilds(tmp_path):
    d = make_dir(
        tmp_path / "d",
        text="s2-a 再见\ns1-a 今天 好\ns1-b hello\ns3-a only text\n",
        utt2spk="s1-b s1\ns1-a s1\ns2-a s2\ns4-a s4\n",
        spk2utt=None,
        **{"wav.scp": "s1-a /w/a.wav\ns2-a /w/c.wav\ns4-a /w/d.wav\ns1-b /w/b.wav\n"},
    )
    rep = fix_data_dir(d)
    assert rep.kept == 3
    assert rep.dropped == {"s3-a": "not in utt2spk, wav.scp", "s4-a": "not in text"}
    assert (d / ".backup" / "text").read_text(encoding="utf-8").startswith("s2-a")
    assert list(read_text(d / "text", require_sorted=True)) == ["s1-a", "s1-b", "s2-a"]
    assert read_spk2utt(d / "spk2utt") == {"s1": ["s1-a", "s1-b"], "s2": ["s2-a"]}
    assert validate_data_dir(d).ok


def test_fix_filters_notes_without_dropping_for_them(tmp_path):
    # utt2aug (the synthetic corpus's augmentation note) follows the kept utterances but is no reason to drop one
    d = make_dir(
        tmp_path / "d",
        text="s1-a hello\ns1-b bye\n",
        utt2spk="s1-a s1\ns1-b s1\ns1-c s1\n",
        spk2utt=None,
        utt2aug="s1-a clean\ns1-c noise\ns9-z speed\n",
        **{"wav.scp": "s1-a /w/a.wav\ns1-b /w/b.wav\ns1-c /w/c.wav\n"},
    )
    rep = fix_data_dir(d, backup=False)
    assert rep.kept == 2 and set(rep.dropped) == {"s1-c"}
    assert read_kv(d / "utt2aug", allow_empty_value=False) == {"s1-a": "clean"}
    assert "utt2aug" in rep.rewritten


def test_fix_with_segments_drops_unused_recordings(tmp_path):
    d = make_dir(
        tmp_path / "d",
        **{
            "wav.scp": "rec1 /w/1.wav\nrec2 /w/2.wav\nrec9 /w/9.wav\n",
            "segments": "s1-a rec1 0 1\ns1-b rec1 1 2\ns2-a rec3 0 1\n",
        },
    )
    rep = fix_data_dir(d, backup=False)
    assert rep.dropped == {"s2-a": "recording 'rec3' not in wav.scp"}
    assert rep.dropped_recordings == ["rec2", "rec9"]
    assert rep.backup_dir is None and not (d / ".backup").exists()
    assert (d / "wav.scp").read_text() == "rec1 /w/1.wav\n"
    r = validate_data_dir(d)
    assert r.ok and not r.warnings, messages(r)


def test_fix_cannot_fix_duplicates(tmp_path):
    d = make_dir(tmp_path / "d", text="s1-a x\ns1-a y\n")
    with pytest.raises(InputError, match="text:2: duplicate key"):
        fix_data_dir(d)


def test_cli_validate_and_fix(tmp_path, capsys):
    d = make_dir(tmp_path / "d", text="s1-b hello\ns1-a x\n")
    assert main(["data", "validate", str(d)]) == 1
    out, err = capsys.readouterr()
    assert "2 error(s)" in out and "cifst data validate: error:" in err and "Traceback" not in err
    assert main(["data", "fix", str(d)]) == 0
    out, _ = capsys.readouterr()
    assert "dropped s2-a: not in text" in out and "kept 2 utterances" in out
    assert main(["data", "validate", str(d)]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(["data", "validate", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "data directory does not exist" in err
    (tmp_path / "u").mkdir()
    assert main(["data", "fix", str(tmp_path / "u")]) == 1
    assert "utt2spk: required file is missing" in capsys.readouterr().err


def test_ctm_is_checked_and_filtered(tmp_path):
    ctm = "s1-a 1 0.0 0.3 今\ns1-a 1 0.3 0.2 好\ns2-a 1 0 1 再见\nzz 1 0 1 x\n"
    d = make_dir(tmp_path / "d", text="s1-a 今 好\ns2-a 再见\n", ctm=ctm)
    r = validate_data_dir(d)
    assert any("ctm: 1 utterance(s) not in utt2spk: 'zz'" in w for w in messages(r)[1])
    rep = fix_data_dir(d)
    assert rep.dropped == {"s1-b": "not in text"} and "ctm" in rep.rewritten
    assert (d / "ctm").read_text(
        encoding="utf-8"
    ) == "s1-a 1 0.0 0.3 今\ns1-a 1 0.3 0.2 好\ns2-a 1 0 1 再见\n"
    r = validate_data_dir(d)
    assert r.ok and not r.warnings, messages(r)


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    utts=st.lists(st.from_regex(r"s[0-3]-u[0-9]{1,2}", fullmatch=True), min_size=1, max_size=12, unique=True),
)
def test_fix_then_validate_is_clean_for_any_inconsistent_directory(data, utts):
    """Whatever subset of utterances each file holds, in whatever order, `fix` leaves a directory `validate`
    accepts, holding exactly the utterances present in every file."""
    files = {}
    for name in ("text", "utt2spk", "wav.scp", "utt2dur"):
        subset = data.draw(st.lists(st.sampled_from(utts), unique=True), label=name)
        values = {
            "text": lambda u: f"word{len(u)} 字",
            "utt2spk": lambda u: u.split("-")[0],
            "wav.scp": lambda u: f"/w/{u}.wav",
            "utt2dur": lambda u: "1.5",
        }[name]
        files[name] = "".join(f"{u} {values(u)}\n" for u in subset)
    with tempfile.TemporaryDirectory() as tmp:
        d = make_dir(Path(tmp) / "d", spk2utt=None, **files)
        kept = set.intersection(*(set(read_kv(d / n)) for n in ("text", "utt2spk", "wav.scp", "utt2dur")))
        rep = fix_data_dir(d)
        assert rep.kept == len(kept)
        assert set(rep.dropped) == set().union(*(set(read_kv(d / ".backup" / n)) for n in files)) - kept
        assert set(read_text(d / "text")) == kept
        if kept:
            r = validate_data_dir(d)
            assert r.ok, messages(r)
