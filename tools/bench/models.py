"""Benchmark of the model area: (1) our vectorized CIF against the frame loop of FunASR's Paraformer
(``funasr/models/paraformer/cif_predictor.py::cif``, the peer), forward and forward+backward, with a check that
both give the same token embeddings; (2) optionally the real-time factor of ``cifst infer`` for a trained model.

The peer's function is read from the FunASR wheel (``pip download --no-deps funasr``; nothing is installed) and
executed as is with only torch in scope.

Usage:
  OMP_NUM_THREADS=1 .venv/bin/python tools/bench/models.py
  OMP_NUM_THREADS=1 .venv/bin/python tools/bench/models.py --exp egs/synth_en/asr/exp/tiny \
      --data egs/synth_en/asr/data/test_seen --checkpoint avg_5.pt
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from asr.models.cif import cif, scale_weights  # noqa: E402

PEER_FILE = "funasr/models/paraformer/cif_predictor.py"


def load_peer_cif(wheel_dir: Path):
    """FunASR's ``cif(hidden, alphas, threshold)`` from its wheel, or None when it cannot be fetched."""
    wheels = sorted(wheel_dir.glob("funasr-*.whl"))
    if not wheels:
        wheel_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheel_dir), "funasr"]
        if subprocess.run(cmd, capture_output=True).returncode != 0:
            return None, None
        wheels = sorted(wheel_dir.glob("funasr-*.whl"))
    with zipfile.ZipFile(wheels[-1]) as z:
        source = z.read(PEER_FILE).decode("utf-8")
    tree = ast.parse(source)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "cif")
    scope = {"torch": torch}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), PEER_FILE, "exec"), scope)
    return scope["cif"], wheels[-1].name


def timeit(fn, repeat: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench_cif(peer, batch: int, frames: int, dim: int, repeat: int) -> None:
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(batch, frames, dim, generator=g)
    target = torch.randint(frames // 4, frames // 3, (batch,), generator=g)
    alphas = scale_weights(torch.rand(batch, frames, generator=g), target)
    # the peer's fire test (integrate >= 1) needs the scaled sum to reach the last threshold: nudge by 1e-4
    alphas[:, -1] += 1e-4
    ours = cif(hidden, alphas, target).embeds
    theirs, _ = peer(hidden, alphas, 1.0)
    u = min(ours.shape[1], theirs.shape[1])
    diff = (ours[:, :u] - theirs[:, :u]).abs().max().item()
    print(
        f"CIF B={batch} T={frames} D={dim} U~{int(target.float().mean())}: max |ours - FunASR| = {diff:.2e}"
    )

    def fwd_bwd(f):
        def run():
            h = hidden.clone().requires_grad_(True)
            a = alphas.clone().requires_grad_(True)
            out = f(h, a)
            out.square().sum().backward()

        return run

    cases = {
        "forward": (lambda: cif(hidden, alphas, target), lambda: peer(hidden, alphas, 1.0)),
        "forward+backward": (
            fwd_bwd(lambda h, a: cif(h, a, target).embeds),
            fwd_bwd(lambda h, a: peer(h, a, 1.0)[0]),
        ),
    }
    for name, (ours_fn, peer_fn) in cases.items():
        t_ours = timeit(ours_fn, repeat)
        t_peer = timeit(peer_fn, repeat)
        print(
            f"  {name:17s} ours {t_ours * 1e3:8.2f} ms   FunASR {t_peer * 1e3:8.2f} ms   "
            f"speed-up x{t_peer / t_ours:.1f}"
        )


def bench_infer(exp: str, data: str, checkpoint: str, batch_size: int) -> None:
    from asr.infer import InferConfig, infer_data_dir

    with tempfile.TemporaryDirectory() as out:
        res = infer_data_dir(
            exp,
            data,
            out,
            InferConfig(checkpoint=checkpoint, device="cpu", batch_size=batch_size, progress=False),
        )
    print(
        f"infer {data}: {res.utterances} utts, {res.audio_seconds:.1f} s audio, {res.wall_seconds:.1f} s wall, "
        f"RTF {res.rtf:.4f} (threads {torch.get_num_threads()}, batch {batch_size})"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--peer-dir", default=str(ROOT / "bench_out" / "peers"), help="where the FunASR wheel is kept"
    )
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--exp", help="trained experiment dir for the RTF measurement")
    p.add_argument("--data", help="data dir for the RTF measurement")
    p.add_argument("--checkpoint", default="final.pt")
    p.add_argument("--batch-size", type=int, default=16)
    args = p.parse_args()
    peer, name = load_peer_cif(Path(args.peer_dir))
    if peer is None:
        print("FunASR wheel not available (pip download failed): CIF comparison skipped")
    else:
        print(f"peer: {name} {PEER_FILE}::cif")
        for b, t, d in ((1, 300, 512), (16, 300, 512), (16, 1000, 256)):
            bench_cif(peer, b, t, d, args.repeat)
    if args.exp and args.data:
        bench_infer(args.exp, args.data, args.checkpoint, args.batch_size)


if __name__ == "__main__":
    main()
