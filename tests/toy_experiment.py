"""A cheap, deterministic experiment for the runner's tests: every row depends only on its item.

``TOY_DELAY`` (seconds slept per batch) slows the command-line run down enough to kill it mid-way.
"""
from __future__ import annotations

import os
import time

import pandas as pd
import torch

from whynot.experiments.runner import Experiment

CONDITIONS = ("clean", "scaled", "shifted")  # several rows per item, like an image x condition table


def experiment(profile: str = "smoke", n: int = 23, batch_size: int = 2, delay: float | None = None,
               scale: float = 0.5) -> Experiment:
    """``n`` items in batches of ``batch_size`` (the last one short); ``delay`` is not part of the
    configuration since it does not change the results."""
    delay = float(os.environ.get("TOY_DELAY", 0)) if delay is None else delay
    config = dict(profile=profile, n=n, batch_size=batch_size, scale=scale)
    batches = [dict(start=s, stop=min(s + batch_size, n)) for s in range(0, n, batch_size)]

    def run_batch(batch, device):
        time.sleep(delay)
        rows = []
        for item in range(batch["start"], batch["stop"]):
            x = torch.randn(6, 6, generator=torch.Generator().manual_seed(item), dtype=torch.float64)
            for k, condition in enumerate(CONDITIONS):
                y = (x * scale**k + k) @ x.T
                rows.append(dict(image=item, condition=condition, trace=y.trace().item(),
                                 top=torch.linalg.matrix_norm(y, ord=2).item(),
                                 mean32=y.float().mean().item(),
                                 sum32=(x.float() @ x.float().T).sum().item() * (k + 1),
                                 label=int(y.argmax()) % 6))
        table = pd.DataFrame(rows)
        return table.astype({"mean32": "float32", "sum32": "float32"})

    return Experiment("toy", 1, config, batches, run_batch)
