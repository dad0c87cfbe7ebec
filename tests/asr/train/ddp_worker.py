"""One rank of the 2-process DDP test, started by torchrun: trains on its shard of FakeSource and saves its final
parameters to OUT/rank{RANK}.pt so the test can check that the ranks stayed in sync. A second argument
``ctc-only`` trains epoch 1 on the CTC loss alone (``train.ctc_only_epochs: [1]``)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from fakes import FakeSource, make_model_and_frontend, tiny_config  # noqa: E402

from asr.train.loop import Trainer, init_distributed  # noqa: E402


def main(out: str, mode: str = "") -> None:
    info, device = init_distributed("cpu")
    cfg = tiny_config()
    if mode == "ctc-only":
        cfg.train.ctc_only_epochs = [1]
    # ranks start from different weights on purpose: DDP must broadcast rank 0's
    model, frontend = make_model_and_frontend(cfg, seed=info.rank)
    src = FakeSource(n_utts=16, batch=2, rank=info.rank, world=info.world_size)
    dev = FakeSource(n_utts=4, batch=2) if info.is_main else None
    Trainer(model, frontend, cfg.train, out, src, dev, device, info, progress=False).fit()
    torch.save(model.state_dict(), Path(out) / f"rank{info.rank}.pt")
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:])
