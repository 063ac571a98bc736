"""Why t1 and not t3? A user-chosen foil on SynthBirds, against a ground truth (chapter 03).

The paper's contrasts pick the rival classes themselves: all of them (weighted, mean) or the
strongest (max: ``y_t1 - y_t2``). A user's question names the rival: *why t1 and not t3?*
The foil contrast answers it, ``v = e_t1 - e_t3`` (``whynot.explain(..., contrast="foil",
foil=t3)``). On SynthBirds, where two classes that differ in exactly one part (head, wing or
tail) look alike everywhere else, that part is the only evidence in the image for t1 against
t3, so the foil map should put its positive mass there. It is scored with the part mass and
the pointing game of :mod:`whynot.experiments.parts`, against the maps of t1 a user would look
at otherwise: the original (logit), weighted and max maps, on the images whose t1 and t3 (the
model's first and third most probable classes) differ in one visible part.

>>> table = foil_table(load_model("synth_vgg"), load_synthbirds("test", n=108))  # doctest: +SKIP
>>> verdict(summarize(table))                                                  # doctest: +SKIP
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

import whynot
from whynot import rehearsal
from whynot.data.synthetic import CLASS_NAMES, PART_NAMES, SynthBirds
from whynot.experiments.parts import METHODS, _estimate, differing_part, hit_zone
from whynot.experiments.plans import model_on, weights_fingerprint
from whynot.experiments.runner import Experiment
from whynot.metrics import part_mass, pointing_game
from whynot.metrics.pointing_game import TOLERANCE_AT_224, pixel_tolerance

#: The maps of t1 that are scored: the foil map first, then those it is compared with.
MAPS = ("foil", "logit", "weighted", "max")
MAP_LABELS = {
    "foil": "foil (t1 vs t3)",
    "logit": "original",
    "weighted": "weighted",
    "max": "max (t1 vs t2)",
}
MODELS = ("synth_vgg", "synth_resnet", "synth_mobile")
VERSION = 1  # of the experiment's results: bump when foil_table() or the rows change

#: Per profile: (model, number of SynthBirds test images; the split has 1080).
PLANS: dict[str, dict] = {
    "smoke": {"models": [(m, 108) for m in MODELS], "batch_size": 54},
    "default": {"models": [(m, 1080) for m in MODELS], "batch_size": 120},
    "full": {"models": [(m, 1080) for m in MODELS], "batch_size": 120},
}


def foil_table(
    model: nn.Module,
    birds: SynthBirds,
    start: int = 0,
    methods: Sequence[str] = METHODS,
    tolerance: float | None = None,
) -> pd.DataFrame:
    """Part mass and pointing-game hit of t1's foil (t3), original, weighted and max maps on the
    part that separates t1 from t3.

    One :func:`whynot.explain` pass gives every method's four maps (the foil costs one backward
    pass more than the paper's contrasts). One row per image, method and ``map`` (:data:`MAPS`)
    with the image's ``t1, t2, t3, p1, p2, p3``; ``part``: the part separating t1 and t3 (""
    when they differ in more than one part; then ``mass`` and ``hit`` are NaN); ``rival_part``:
    the one separating t1 and t2, the max map's question; the part's visible pixels and the
    uniform-map baselines ``part_share`` (its share of the image) and ``hit_zone_share``.
    """
    images = birds.images.to(next(model.parameters()).device)
    tolerance = pixel_tolerance(images.shape[-1]) if tolerance is None else tolerance
    with torch.no_grad():
        probabilities = model(images).softmax(dim=1)
    if probabilities.shape[1] != len(CLASS_NAMES):
        raise ValueError(
            f"the model has {probabilities.shape[1]} classes; the foil experiment needs "
            f"a SynthBirds model ({len(CLASS_NAMES)} classes), e.g. synth_vgg."
        )
    top = probabilities.topk(3, dim=1)
    t1, t2, t3 = (top.indices[:, rank].cpu() for rank in range(3))
    explained = whynot.explain(
        model,
        images,
        method=tuple(methods),
        classes=top.indices[:, 0],
        contrast=MAPS[1:] + MAPS[:1],
        foil=top.indices[:, 2],
    )
    parts = [differing_part(a, b) for a, b in zip(t1.tolist(), t3.tolist())]
    one_part = torch.tensor([part is not None for part in parts])
    part_index = torch.tensor([PART_NAMES.index(part) if part else 0 for part in parts])
    masks = birds.part_masks[torch.arange(len(parts)), part_index] & one_part[:, None, None]

    def undefined_if_unscored(values: torch.Tensor) -> np.ndarray:
        values = values.detach().cpu().to(torch.float64)
        return torch.where(one_part, values, torch.nan).numpy()

    image_rows = pd.DataFrame(
        {
            "image": np.arange(start, start + len(parts)),
            "label": birds.labels.numpy(),
            "t1": t1.numpy(),
            "t2": t2.numpy(),
            "t3": t3.numpy(),
            "p1": top.values[:, 0].cpu().numpy(),
            "p2": top.values[:, 1].cpu().numpy(),
            "p3": top.values[:, 2].cpu().numpy(),
            "part": [part or "" for part in parts],
            "rival_part": [differing_part(a, b) or "" for a, b in zip(t1.tolist(), t2.tolist())],
            "part_pixels": masks.sum(dim=(-2, -1)).numpy(),
            "part_share": undefined_if_unscored(masks.float().mean(dim=(-2, -1))),
            "hit_zone_share": undefined_if_unscored(
                hit_zone(masks, tolerance).float().mean(dim=(-2, -1))
            ),
        }
    )
    blocks = []
    for method, maps in explained.items():
        for name in MAPS:
            value = maps[name][:, 0].cpu()
            blocks.append(
                image_rows.assign(
                    method=method,
                    map=name,
                    mass=undefined_if_unscored(part_mass(value, masks)),
                    hit=undefined_if_unscored(pointing_game(value, masks, tolerance).float()),
                )
            )
    return pd.concat(blocks, ignore_index=True)


def experiment(
    profile: str = "default",
    seed: int = 0,
    models: Sequence[str] | None = None,
    n_images: int | None = None,
    batch_size: int | None = None,
) -> Experiment:
    """The foil experiment of ``profile`` (:data:`PLANS`) for the resumable runner
    (``python -m whynot.experiments run foils``), optionally restricted to ``models`` or to the
    first ``n_images`` test images."""
    if profile not in PLANS:
        raise ValueError(f"unknown profile {profile!r}; choose one of {sorted(PLANS)}")
    plan = PLANS[profile]
    chosen = [
        (m, n if n_images is None else min(n, n_images))
        for m, n in plan["models"]
        if models is None or m in models
    ]
    if not chosen:
        raise ValueError(
            f"none of {models} is in the {profile} plan: {[m for m, _ in plan['models']]}"
        )
    size = batch_size or plan["batch_size"]
    if profile == "full" and rehearsal.active():  # the rehearsal runs the full path on a few images
        chosen = [(m, rehearsal.capped(n)) for m, n in chosen]
        size = rehearsal.batch_size(size)
    batches = [
        {"model": m, "start": s, "stop": min(s + size, n)}
        for m, n in chosen
        for s in range(0, n, size)
    ]
    from whynot.data.synthetic import VERSION as SYNTHBIRDS_VERSION

    config = {
        "profile": profile,
        "seed": seed,
        "models": chosen,
        "methods": list(METHODS),
        "maps": list(MAPS),
        "tolerance_at_224": TOLERANCE_AT_224,
        "weights": {m: weights_fingerprint(m) for m, _ in chosen},
        "synthbirds_version": SYNTHBIRDS_VERSION,
    }

    def run_batch(batch: Mapping, device: torch.device) -> pd.DataFrame:
        from whynot.data.synthetic import load_synthbirds

        model = model_on(batch["model"], str(device))
        birds = load_synthbirds("test", seed=seed, n=batch["stop"]).subset(
            slice(batch["start"], batch["stop"])
        )
        table = foil_table(model, birds, start=batch["start"])
        table.insert(0, "model", batch["model"])
        return table

    return Experiment("foils", VERSION, config, batches, run_batch)


def scored(table: pd.DataFrame) -> pd.DataFrame:
    """The rows that are scored: t1 and t3 differ in one part, and it is visible."""
    return table[(table.part != "") & (table.part_pixels > 0)]


def summarize(table: pd.DataFrame, seed: int = 0, n_resamples: int = 2000) -> pd.DataFrame:
    r"""Per model, method and map, over the scored images: mean part mass and hit rate with 95 %
    percentile-bootstrap intervals over images, and the paired differences of the foil map to
    this map, ``foil_mass_gain = mean_i (mass_i^foil - mass_i^map)`` (``foil_hit_gain``
    likewise; NaN for the foil map itself). ``part_share``: the uniform map's mass.
    """
    chosen = scored(table)
    foil = chosen[chosen["map"] == "foil"].set_index(["model", "method", "image"]).sort_index()
    rows = []
    for (model, method, name), group in chosen.groupby(["model", "method", "map"], sort=False):
        group = group.set_index("image")
        row = {
            "model": model,
            "method": method,
            "map": name,
            "images": len(group),
            "part_share": float(group.part_share.mean()),
        }
        reference = foil.loc[(model, method)].reindex(group.index)
        for metric in ("mass", "hit"):
            row.update(_estimate(metric, group[metric], seed, n_resamples))
            gain = reference[metric] - group[metric]
            row.update(
                _estimate(f"foil_{metric}_gain", gain, seed, n_resamples)
                if name != "foil"
                else dict.fromkeys(
                    (
                        "foil_" + metric + "_gain",
                        f"foil_{metric}_gain_low",
                        f"foil_{metric}_gain_high",
                    ),
                    float("nan"),
                )
            )
        rows.append(row)
    return pd.DataFrame(rows)


def tally(summary: pd.DataFrame, metric: str = "mass") -> pd.DataFrame:
    """Per map compared with the foil map: in how many model x method cases the foil map's
    paired 95 % interval of ``metric`` is above it (``foil higher``), below it, or spans 0."""
    rows = []
    for name in MAPS[1:]:
        cases = summary[summary["map"] == name]
        low, high = cases[f"foil_{metric}_gain_low"], cases[f"foil_{metric}_gain_high"]
        rows.append(
            {
                "map": name,
                "cases": len(cases),
                "foil higher": int((low > 0).sum()),
                "foil lower": int((high < 0).sum()),
                "unresolved": int(((low <= 0) & (high >= 0)).sum()),
            }
        )
    return pd.DataFrame(rows)


def verdict(summary: pd.DataFrame) -> str:
    """One sentence: how the foil map's part mass compares with each other map's, counted over
    the model x method cases by their paired 95 % intervals."""
    parts = []
    for row in tally(summary, "mass").to_dict("records"):
        text = f"than the {MAP_LABELS[row['map']]} map in {row['foil higher']} of {row['cases']}"
        if row["foil lower"] or row["unresolved"]:
            text += f" (lower in {row['foil lower']}, unresolved in {row['unresolved']})"
        parts.append(text)
    return textwrap.fill(
        "The foil map of t1 against t3 puts more of its positive mass on the part that separates "
        "them " + ", ".join(parts) + " model x method cases (paired 95 % intervals over images).",
        width=76)  # printed in the book: no sideways scrolling


#: Headers of :func:`shown`'s columns, for :func:`whynot.tables.table`.
HEADERS = {
    "map": "map of t1",
    "mass": "part mass",
    "foil_mass_gain": "foil minus map",
    "hit": "pointing",
    "foil_hit_gain": "foil minus map ",
}


def shown(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary as the chapter prints it: labelled methods and maps, and per map its part
    mass and pointing with intervals, beside the foil map's paired gain over it."""
    from whynot.labels import METHOD_LABELS

    columns = ["images"] + [
        f"{metric}{end}"
        for metric in ("mass", "foil_mass_gain", "hit", "foil_hit_gain")
        for end in ("", "_low", "_high")
    ]
    frame = summary.assign(
        method=summary.method.map(METHOD_LABELS), map=summary["map"].map(MAP_LABELS)
    )
    return frame.set_index(["model", "method", "map"])[columns]
