"""shared/cmd_lib.sh: the local backend tees and returns the exit code; the Slurm backend writes a job script that
runs the command in the recipe's directory and environment (checked with a stand-in `sbatch` that runs it)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "egs" / "shared" / "cmd_lib.sh"

FAKE_SBATCH = """#!/usr/bin/env bash
# stand-in for sbatch --wait: record the options, run the script with its output in --output
out=
while [ $# -gt 1 ]; do
  case "$1" in
    --output) out=$2; shift 2 ;;
    --job-name) echo "job-name $2" >> "$SBATCH_LOG"; shift 2 ;;
    *) echo "opt $1" >> "$SBATCH_LOG"; shift ;;
  esac
done
bash "$1" > "$out" 2>&1
"""


def _bash(script: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=60,
                          env=env or dict(os.environ))  # fmt: skip


def test_local_backend_logs_and_returns_the_exit_code(tmp_path):
    proc = _bash(f". {LIB}; cmd_backend=local; run_job decode log/a.log sh -c 'echo hello; exit 3'; echo rc=$?",
                 tmp_path)  # fmt: skip
    assert "rc=3" in proc.stdout
    log = (tmp_path / "log" / "a.log").read_text()
    assert log.startswith("# sh -c") and "hello" in log


def test_slurm_backend_runs_the_job_script(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(FAKE_SBATCH)
    (bin_dir / "sbatch").chmod(0o755)
    (tmp_path / "path.sh").write_text("export FROM_PATH_SH=yes\n")
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", SBATCH_LOG=str(tmp_path / "sbatch.log"))
    script = (f". {LIB}; cmd_backend=slurm; train_slurm_opts='--gres=gpu:1 --time=1:00:00'; "
              "run_job train exp/log/train.log sh -c 'echo \"in $PWD with $FROM_PATH_SH\" \"$0\"' 'arg with space'; "
              "echo rc=$?")  # fmt: skip
    proc = _bash(script, tmp_path, env)
    assert "rc=0" in proc.stdout, proc.stderr
    assert (
        tmp_path / "exp" / "log" / "train.log"
    ).read_text().strip() == f"in {tmp_path} with yes arg with space"
    opts = (tmp_path / "sbatch.log").read_text().split("\n")
    assert "job-name cifst-train" in opts and "opt --gres=gpu:1" in opts and "opt --time=1:00:00" in opts
    assert not list((tmp_path / "exp" / "log").glob("*.sbatch"))  # the job script is cleaned up


def test_unknown_backend_is_an_error(tmp_path):
    proc = _bash(f". {LIB}; cmd_backend=pbs; run_job x log/x.log true; echo rc=$?", tmp_path)
    assert "rc=1" in proc.stdout and "unknown cmd_backend 'pbs'" in proc.stderr
