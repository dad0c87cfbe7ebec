"""Fixtures for the recipe tests: copy a recipe into a temporary tree (so its data/ and exp/ do not touch the
repository's) and run its run.sh."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def copy_recipe(name: str, dest: Path) -> Path:
    """Copy ``egs/<name>/asr`` (without data/ and exp/) and ``egs/shared`` under ``dest``; return the recipe dir."""
    shutil.copytree(ROOT / "egs" / "shared", dest / "egs" / "shared")
    src = ROOT / "egs" / name / "asr"
    out = dest / "egs" / name / "asr"
    shutil.copytree(src, out, symlinks=True, ignore=shutil.ignore_patterns("data", "exp"))
    return out


def run_recipe(recipe: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """``bash run.sh ARGS`` in ``recipe`` with the repository's environment (CIFST_ROOT)."""
    env = dict(os.environ, CIFST_ROOT=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.run(["bash", "run.sh", *args], cwd=recipe, env=env, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


class Recipes:
    """What the ``recipes`` fixture gives: the repository root and the two helpers."""

    root = ROOT
    copy = staticmethod(copy_recipe)
    run = staticmethod(run_recipe)


@pytest.fixture
def recipes() -> type[Recipes]:
    return Recipes
