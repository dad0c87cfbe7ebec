"""`python -m asr.data.synth` reports a missing input as one line naming the file, not a traceback."""

from __future__ import annotations

from asr.data.synth.__main__ import main


def test_missing_word_list_is_one_line(tmp_path, capsys):
    missing = tmp_path / "local" / "words.txt"
    assert main(["lexicon", str(missing), str(tmp_path / "lang"), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("synth lexicon: error: ") and "\n" not in err and "Traceback" not in err
    assert str(tmp_path) in err  # names the missing input
