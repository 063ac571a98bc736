"""Claim records shared by the Group-CAM and Abs-CAM chapters (06, 07): one claim tested against
several rivals and models, running-time ratios over repeats, and a map's similarity against 0.5.

A claim such as "Group-CAM has the best insertion AUC" is tested once per (model, rival): each
paired difference is judged by :func:`whynot.claims.judge`, and :func:`whynot.claims.combine`
makes one verdict of them. The record shows the main model's least favourable comparison.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from whynot import claims
from whynot.stats import bootstrap_ci, normal_halfwidth, paired_difference


@dataclass(frozen=True)
class Comparison:
    """One setting of a claim: ``effect`` with its 95 % interval over ``n`` units."""

    setting: str
    effect: float
    low: float
    high: float
    n: int


def paired(setting: str, first: pd.Series, second: pd.Series, scale: float = 1.0,
           seed: int = 0) -> Comparison:
    """``first - second`` (Series indexed by image), times ``scale``, paired over their images."""
    mean, low, high = paired_difference(first, second, seed)
    n = len(pd.concat([first, second], axis=1, join="inner").dropna())
    return Comparison(setting, scale * mean, scale * low, scale * high, n)


def against(setting: str, values, boundary: float = 0.0, seed: int = 0) -> Comparison:
    """The mean of ``values`` (NaN dropped) minus ``boundary``, with its bootstrap interval."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    low, high = bootstrap_ci(values, seed=seed)
    mean = float(values.mean()) if len(values) else float("nan")
    return Comparison(setting, mean - boundary, low - boundary, high - boundary, len(values))


def combined(claim: str, comparisons: Sequence[Comparison],
             claimed: ModuleType | str | Sequence[ModuleType | str], what: str,
             unit: str = "images", data: str = "", model: str = "", decimals: int = 3,
             boundary: float = 0.0) -> claims.Record:
    """One record for ``comparisons`` of one claim (the main model's first): the verdict
    :func:`whynot.claims.combine` makes of each comparison's :func:`whynot.claims.judge`
    (``claimed``: one direction, or one per comparison). The effect shown is the main model's
    least favourable comparison (the first comparison where directions differ); ``what`` says
    what the effect is (e.g. "Group-CAM - rival, AUC points")."""
    if not comparisons:
        raise ValueError(f"claim {claim!r}: no comparison to judge; pass at least one.")
    one = isinstance(claimed, (str, ModuleType))
    directions = [claims.direction_of(c) for c in ([claimed] * len(comparisons) if one else claimed)]
    verdicts = [claims.judge(c.low, c.high, d, boundary) for c, d in zip(comparisons, directions)]
    shown = comparisons[0]
    if one:
        main = shown.setting.split(" vs ")[0]
        sign = 1 if directions[0] == "higher" else -1
        first = [c for c in comparisons if c.setting.split(" vs ")[0] == main]
        shown = min(first, key=lambda c: sign * (c.effect - boundary)
                    if np.isfinite(c.effect) else -np.inf)
    counts = pd.Series(verdicts).value_counts()
    tally = ", ".join(f"{v} {counts[v]}" for v in claims.MEASURED if v in counts)
    settings = f"{len(comparisons)} settings ({tally})" if len(comparisons) > 1 else verdicts[0]
    why = f"{what}; {settings}; shown: {shown.setting}"
    return claims.Record(claim, claims.combine(verdicts), why, *_finite(shown), n=shown.n,
                         unit=unit, data=data, model=model, decimals=decimals)


def _finite(c: Comparison) -> tuple[float | None, ...]:
    return tuple(float(v) if np.isfinite(v) else None for v in (c.effect, c.low, c.high))


# --- running time --------------------------------------------------------------------------------
Explain = Callable[[nn.Module, Tensor, Tensor, str], Tensor]


def repeat_times(model: nn.Module, images: Tensor, methods: Sequence[str], explain: Explain,
                 repeats: int = 5) -> pd.DataFrame:
    """Seconds per image of one forward pass (``method="forward"``) and of each method, batched
    over ``images``: one row per (repeat, method). Every repeat times every method once, in
    turn, after one warm-up run of each, so that a machine's drift touches all of them alike."""
    with torch.no_grad():
        classes = model(images).argmax(dim=1)

    def forward():
        with torch.no_grad():
            model(images)

    runs = {"forward": forward,
            **{m: (lambda m=m: explain(model, images, classes, m)) for m in methods}}
    for run in runs.values():
        run()  # warm-up: first-call allocations are not the method's cost
    rows = []
    for repeat in range(repeats):
        for method, run in runs.items():
            start = time.perf_counter()
            run()
            rows.append(dict(repeat=repeat, method=method,
                             seconds=(time.perf_counter() - start) / len(images)))
    return pd.DataFrame(rows)


def time_table(times: pd.DataFrame) -> pd.DataFrame:
    """Per method: the median seconds per image over repeats and its ratio to the forward pass."""
    seconds = times.groupby("method", sort=False).seconds.median()
    table = seconds.drop("forward").to_frame()
    table["ratio to a forward pass"] = table.seconds / seconds["forward"]
    return table


def time_ratio(times: pd.DataFrame, slower: str, faster: str) -> Comparison:
    """``slower``'s time over ``faster``'s, per repeat (the same repeat's runs): the mean ratio
    with a normal 95 % interval over repeats (undefined for one repeat)."""
    by = times.pivot(index="repeat", columns="method", values="seconds")
    ratios = (by[slower] / by[faster]).to_numpy()
    mean, half = float(ratios.mean()), normal_halfwidth(ratios)
    return Comparison(f"{slower} / {faster}", mean, mean - half, mean + half, len(ratios))
