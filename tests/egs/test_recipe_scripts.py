"""The recipes' shell layer: option parsing, tool checks, and the synth_en data stages at a tiny size."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from asr.data.kaldi_dir import read_text, read_utt2spk

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ("synth_en", "synth_zh", "aishell", "librispeech")


@pytest.mark.parametrize("name", RECIPES)
def test_help_lists_options_and_exits_0(name):
    proc = subprocess.run(["bash", "run.sh", "--help"], cwd=ROOT / "egs" / name / "asr", capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "--stage " in proc.stdout and "--stop-stage" in proc.stdout and "--device" in proc.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--no-such-option", "1"], "unknown option --no-such-option"),
        (["--stage"], "option --stage needs a value"),
        (["--force-data", "yes"], "takes true or false"),
        (["--hours", "lots", "--stop-stage", "0"], "--hours must be a non-negative number"),
        (["--config", "/nonexistent.conf"], "no such file"),
    ],
)
def test_bad_options_fail_before_any_work(tmp_path, recipes, args, message):
    recipe = recipes.copy("synth_en", tmp_path)
    proc = recipes.run(recipe, *args)
    assert proc.returncode == 1
    assert message in proc.stderr
    assert not (recipe / "data").exists()


def test_equals_form_and_config_file(tmp_path, recipes):
    recipe = recipes.copy("synth_en", tmp_path)
    (tmp_path / "opts.conf").write_text("vocab_size=77\nbeam=3\n")
    proc = recipes.run(recipe, f"--config={tmp_path / 'opts.conf'}", "--beam=5", "--help")
    assert proc.returncode == 0
    assert "--vocab-size             77" in proc.stdout
    assert "--beam                   5" in proc.stdout  # the command line wins over the config file


def test_missing_tool_is_named(tmp_path, recipes):
    recipe = recipes.copy("synth_en", tmp_path)
    # a PATH without sox: the check must stop the run before synthesis starts, naming sox and the fix
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for d in ("/usr/local/bin", "/usr/bin", "/bin"):
        for tool in Path(d).iterdir():
            if tool.name != "sox" and not (fake_bin / tool.name).exists():
                (fake_bin / tool.name).symlink_to(tool)
    proc = subprocess.run(["bash", "run.sh", "--stop-stage", "0"], cwd=recipe, capture_output=True, text=True,
                          timeout=60, env={"CIFST_ROOT": str(ROOT), "HOME": str(tmp_path), "PATH": str(fake_bin)})  # fmt: skip
    assert proc.returncode == 1
    assert "required command 'sox' not found" in proc.stderr
    assert not (recipe / "data" / "train").exists()


SUBJECTS = "the old man|my sister|a small dog|the teacher|our neighbour's cat|every child|the doctor|his friend".split(
    "|"
)
VERBS = "saw|found|liked|carried|painted|wanted|cleaned|followed".split("|")
OBJECTS = "a red house|the green door|two black boxes|the long river|an open window|the yellow car".split("|")


def _small_text(path: Path) -> Path:
    """Eighty short sentences of common words: quick to normalize and synthesize."""
    lines = [f"{s.capitalize()} {v} {o} today." for s in SUBJECTS for v in VERBS for o in OBJECTS][::5]
    path.write_text("\n\n".join(lines) + "\n")
    return path


@pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None, reason="needs espeak-ng, sox"
)
def test_synth_en_data_stages(tmp_path, recipes):
    recipe = recipes.copy("synth_en", tmp_path)
    text = _small_text(tmp_path / "small.txt")
    common = ["--hours", "0.01", "--text", str(text)]
    proc = recipes.run(
        recipe, "--stage", "0", "--stop-stage", "1", "--nj", "2", "--eval-sets", "test_unseen", *common
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = recipe / "data"
    for split in ("train", "dev", "test_seen", "test_unseen"):
        texts = read_text(data / split / "text", require_sorted=True)
        assert texts and all(t == t.lower() and "." not in t for t in texts.values())
    seen = set(read_utt2spk(data / "train" / "utt2spk").values())
    unseen = set(read_utt2spk(data / "test_unseen" / "utt2spk").values())
    assert seen.isdisjoint(unseen)
    # the decoding vocabulary: every word of the LM text and of the train transcripts
    words = set((data / "local" / "words.txt").read_text().split())
    lm_words = {w for line in (data / "local" / "lm_text").read_text().splitlines() for w in line.split()}
    train_words = {w for t in read_text(data / "train" / "text").values() for w in t.split()}
    assert words == lm_words | train_words
    # held-out sentences are kept out of the LM text
    lm_lines = set((data / "local" / "lm_text").read_text().splitlines())
    assert lm_lines.isdisjoint(read_text(data / "test_unseen" / "text").values())
    assert lm_lines.isdisjoint(read_text(data / "dev" / "text").values())
    # a rerun keeps the corpus instead of synthesizing again
    again = recipes.run(recipe, "--stage", "0", "--stop-stage", "0", *common)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "already holds a corpus" in again.stderr and "synth train" not in again.stderr
