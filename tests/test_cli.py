"""The ``cifst`` command as a whole: ``--help`` of the top level and of every registered (sub)command works and
shows an example; registering the commands imports no heavy library; error paths print one line and exit 1."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from asr.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def _leaf_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """Yield ``(argv_prefix, parser)`` for every command and group reachable from ``parser``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name), sub
                yield from _leaf_commands(sub, (*prefix, name))


COMMANDS = [argv for argv, _ in _leaf_commands(build_parser())]


def test_top_level_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "Example:" in out and "score" in out and "data" in out


def test_no_command_shows_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: cifst" in capsys.readouterr().err


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_every_command_help_works_and_has_an_example(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main([*argv, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: cifst " + " ".join(argv))
    sub = dict(_leaf_commands(build_parser()))[argv]
    has_children = any(isinstance(a, argparse._SubParsersAction) for a in sub._actions)
    if not has_children:  # a group (`cifst lm`) lists its commands; each command shows how to call it
        assert "Example" in out, f"'cifst {' '.join(argv)} --help' shows no example"
        assert f"cifst {' '.join(argv)}" in out.split("Example", 1)[1]


def test_expected_commands_are_registered():
    names = {c[0] for c in COMMANDS}
    assert {"score", "data"} <= names
    assert ("data", "validate") in COMMANDS and ("data", "fix") in COMMANDS


def test_registering_commands_imports_no_heavy_library():
    code = (
        "import sys; from asr.cli import build_parser; build_parser(); "
        "print(' '.join(m for m in ('torch', 'numpy', 'numba', 'matplotlib', 'pynini', 'yaml') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert r.stdout.strip() == "", (
        f"`cifst --help` imports {r.stdout.strip()} (import them inside the command)"
    )


@pytest.mark.parametrize(
    "argv,message",
    [
        (["score", "/nonexistent/ref", "/nonexistent/hyp"], "reference file not found"),
        (["data", "validate", "/nonexistent/dir"], "data directory does not exist"),
        (["data", "fix", "/nonexistent/dir"], "data directory does not exist"),
    ],
)
def test_error_paths_print_one_line_and_exit_1(argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"cifst {argv[0]}") and message in err
    assert "Traceback" not in err


def test_console_script_runs_as_a_process(tmp_path):
    ref = tmp_path / "ref"
    ref.write_text("u1 a b c\n", encoding="utf-8")
    hyp = tmp_path / "hyp"
    hyp.write_bytes(b"u1 a \xff c\n")
    r = subprocess.run(
        [sys.executable, "-m", "asr.cli", "score", str(ref), str(hyp)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 1 and r.stdout == ""
    assert (
        r.stderr.strip()
        == f"cifst score: error: {hyp}:1: not valid UTF-8 (byte 5: b'\\xff'); convert the file with iconv -t UTF-8"
    )


def test_console_script_scores_standard_input(tmp_path):
    ref = tmp_path / "ref"
    ref.write_text("u1 a b c\nu2 d\n", encoding="utf-8")
    r = subprocess.run(
        [sys.executable, "-m", "asr.cli", "score", str(ref), "-"],
        input="u1 a x c\nu2 d\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 0 and r.stdout.startswith("%WER 25.00 [ 1 / 4, 0 ins, 0 del, 1 sub ]"), r.stderr


def test_cifst_debug_shows_the_traceback(monkeypatch):
    from asr.errors import InputError

    monkeypatch.setenv("CIFST_DEBUG", "1")
    with pytest.raises(InputError, match="reference file not found"):
        main(["score", "/nonexistent/ref", "/nonexistent/hyp"])


def test_input_error_message_format():
    from asr.errors import CifstError, InputError

    e = InputError("data/text", 12, "duplicate key 'u1'")
    assert str(e) == "data/text:12: duplicate key 'u1'" and (e.path, e.line) == ("data/text", 12)
    assert str(InputError("f", None, "empty")) == "f: empty" and isinstance(e, CifstError)
    assert str(InputError(None, None, "x")) == "<input>: x"
