"""Run by ``accelerate launch`` in test_accelerate.py: a few loop steps on the tiny model.

argv: OUT_JSON [grad_accum]. The main process writes the losses to OUT_JSON.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ragtune.train.config import TrainConfig  # noqa: E402
from ragtune.train.loop import prepare_model, train_loop  # noqa: E402
from tests.train.tiny import tiny_llama, toy_examples  # noqa: E402


def main() -> None:
    out, grad_accum = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1
    cfg = TrainConfig(max_steps=4, batch_size=2, grad_accum=grad_accum, lr=5e-3, precision="fp32",
                      lora_dropout=0.0, seed=1, threads=1)
    model = prepare_model(tiny_llama(), cfg)
    data = toy_examples(8)
    with tempfile.TemporaryDirectory() as work:
        res = train_loop(model, data[:8], [], cfg, work, progress=False)
    import torch.distributed as dist

    if not dist.is_initialized() or dist.get_rank() == 0:
        backend = dist.get_backend() if dist.is_initialized() else None
        out.write_text(json.dumps({"losses": res.train_losses, "processes": res.processes, "backend": backend,
                                   "tokens": res.tokens}))


if __name__ == "__main__":
    main()
