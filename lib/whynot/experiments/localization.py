r"""Ground-truth part localization: does a contrastive map point at the part that separates
the top two classes?

On SynthBirds, two classes that differ in exactly one part (head colour, wing pattern or tail
shape) can only be told apart by that part. When a model's top two classes ``t1, t2`` form such
a pair (:func:`differing_part`), the part's mask ``M`` is a ground truth for "why ``t1`` and not
``t2``" that does not come from the model's probabilities, which answers the reports' objection
that judging ``p``-based maps by ``p`` is circular. Each map ``phi`` of ``t1`` (and, the reverse
direction, of ``t2``) is scored on ``M`` by

.. math::
    \mathrm{mass}(\phi, M) = \frac{\sum_{ij} M_{ij} \max(\phi_{ij}, 0)}{\sum_{ij} \max(\phi_{ij}, 0)},
    \qquad
    \mathrm{hit}(\phi, M) = \big[\min_{(i, j) \in M} \lVert (i, j) - \arg\max \phi \rVert_2 \le \tau\big]

(:func:`whynot.metrics.part_mass`, :func:`whynot.metrics.pointing_game`), with the pointing
game's usual 15 pixels at 224 scaled to the image (``tau = 3.75`` px at 56). Baselines per image:
the part's share of the image ``|M| / HW`` (what a uniform map's mass is), the share of pixels
within ``tau`` of the part (:func:`hit_zone`: the hit probability of a map whose maximum falls
anywhere with equal chance), and a seeded random map of i.i.d. normal pixels, whose expected mass
is exactly ``|M| / HW`` (the pixels are exchangeable) and whose hit probability is the hit zone's
share.

Only images whose top two classes differ in exactly one part, that part visible, and whose second
probability exceeds 0.1 (the paper's selection) are scored by :func:`summarize`; pairs that differ
in two or three parts have no single ground-truth part and are counted, not scored.

>>> table = runner.run(experiment("default"))                     # doctest: +SKIP
>>> summary, chance = summarize(table), baselines(table)          # doctest: +SKIP
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

# The per-map table and its summaries live in parts (chapter 05 uses them too); chapter 03
# reaches them through this module.
from whynot.experiments.parts import (CONTRASTS, METHODS, THRESHOLD, _by_image, _estimate,  # noqa: F401
                                      baselines, counts, localization_table, random_maps,
                                      scored, summarize)
from whynot.experiments.plans import model_on, weights_fingerprint
from whynot.experiments.runner import Experiment
from whynot.labels import CONTRAST_COLOURS
from whynot.labels import CONTRAST_LABELS as LABELS
from whynot.labels import METHOD_LABELS as ALL_METHOD_LABELS
from whynot.metrics.pointing_game import TOLERANCE_AT_224
from whynot.claims import Record, combine, judge
from whynot.stats import bootstrap_ci

METHOD_LABELS = {m: ALL_METHOD_LABELS[m] for m in METHODS}
MODELS = ("synth_vgg", "synth_resnet", "synth_mobile")  # the synthetic CNNs (not synth_vit)
MIN_IMAGES = 10  # a setting with fewer images is not judged: so few undercover a bootstrap
VERSION = 2  # of the experiment's results: bump when localization_table() or the rows change


# --- the experiment, for the runner (python -m whynot.experiments run localization) ------------

#: Per profile: (model, number of SynthBirds test images; the split has 1080). The localization
#: needs part masks, so every profile measures SynthBirds (CUB has part keypoints, not masks).
PLANS: dict[str, dict] = {
    "smoke": {"models": [(m, 108) for m in MODELS], "batch_size": 54},
    "default": {"models": [(m, 1080) for m in MODELS], "batch_size": 120},
    "full": {"models": [(m, 1080) for m in MODELS], "batch_size": 120},
}


def experiment(profile: str = "default", seed: int = 0, models: Sequence[str] | None = None,
               n_images: int | None = None, batch_size: int | None = None) -> Experiment:
    """The localization experiment of ``profile`` (:data:`PLANS`), optionally restricted to
    ``models`` or to the first ``n_images`` test images (a class-balanced prefix)."""
    if profile not in PLANS:
        raise ValueError(f"unknown profile {profile!r}; choose one of {sorted(PLANS)}")
    plan = PLANS[profile]
    chosen = [(m, n if n_images is None else min(n, n_images)) for m, n in plan["models"]
              if models is None or m in models]
    if not chosen:
        raise ValueError(f"none of {models} is in the {profile} plan: {[m for m, _ in plan['models']]}")
    size = batch_size or plan["batch_size"]
    batches = [{"model": m, "start": s, "stop": min(s + size, n)}
               for m, n in chosen for s in range(0, n, size)]
    from whynot.data.synthetic import VERSION as SYNTHBIRDS_VERSION

    config = {"profile": profile, "seed": seed, "models": chosen, "methods": list(METHODS),
              "contrasts": list(CONTRASTS), "tolerance_at_224": TOLERANCE_AT_224,
              "weights": {m: weights_fingerprint(m) for m, _ in chosen},
              "synthbirds_version": SYNTHBIRDS_VERSION}

    def run_batch(batch: Mapping, device: torch.device) -> pd.DataFrame:
        from whynot.data.synthetic import load_synthbirds

        model = model_on(batch["model"], str(device))
        birds = load_synthbirds("test", seed=seed, n=batch["stop"]).subset(
            slice(batch["start"], batch["stop"]))
        table = localization_table(model, birds, start=batch["start"], seed=seed)
        table.insert(0, "model", batch["model"])
        return table

    return Experiment("localization", VERSION, config, batches, run_batch)


# --- summaries: means with bootstrap intervals over images, paired differences, baselines -------

def paired_difference(table: pd.DataFrame, contrast: str, reference: str, rank: int = 1,
                      threshold: float = THRESHOLD, seed: int = 0,
                      n_resamples: int = 2000) -> pd.DataFrame:
    """Per model and method, over the scored images: the mean paired difference of part mass
    and of hits between the ``contrast`` and the ``reference`` maps of rank ``rank``
    (``mass_gain``, ``hit_gain``), with bootstrap intervals over images."""
    chosen = scored(table, threshold)
    chosen = chosen[chosen["rank"] == rank]
    references = _by_image(chosen, reference)
    rows = []
    for (model, method), group in chosen[chosen.contrast == contrast].groupby(
            ["model", "method"], sort=False):
        group = group.set_index("image")
        base = references.loc[(model, method, rank)].reindex(group.index)
        row = {"model": model, "method": method, "images": len(group)}
        for metric in ("mass", "hit"):
            row.update(_estimate(f"{metric}_gain", group[metric] - base[metric], seed, n_resamples))
        rows.append(row)
    return pd.DataFrame(rows)


def resolved(low: float, high: float) -> str:
    """How a 95 % interval of a difference reads: "higher" (above 0), "lower" or "unresolved"."""
    return "higher" if low > 0 else "lower" if high < 0 else "unresolved"


def verdicts(summary: pd.DataFrame, rank: int = 1) -> pd.DataFrame:
    """Per model, method and contrast (rank ``rank`` maps of a :func:`summarize` table): whether
    its part mass and hit rate are "higher" than, "lower" than or "unresolved" from the
    original's (paired intervals; "-" for the original itself) and the uniform-map baselines'
    (the part's share; the hit zone's share)."""
    rows = summary[summary["rank"] == rank]

    def read(metric: str, against: str) -> list[str]:
        return [resolved(low, high) if low == low else "-"
                for low, high in zip(rows[f"{metric}_{against}_low"], rows[f"{metric}_{against}_high"])]

    return pd.DataFrame({
        "model": rows.model, "method": rows.method, "contrast": rows.contrast,
        "mass_vs_original": read("mass", "gain"), "hit_vs_original": read("hit", "gain"),
        "mass_vs_uniform": read("mass", "excess"), "hit_vs_uniform": read("hit", "excess"),
    }).reset_index(drop=True)


def tally(verdict_table: pd.DataFrame, column: str, contrast: str) -> dict[str, int]:
    """How many model x method cases of ``contrast`` read "higher", "lower", "unresolved"."""
    values = verdict_table.loc[verdict_table.contrast == contrast, column]
    return {word: int((values == word).sum()) for word in ("higher", "lower", "unresolved")}


# --- figure -------------------------------------------------------------------------------------

def plot_localization(summary: pd.DataFrame, chance: pd.DataFrame, rank: int = 1):
    """Mean part mass (top, scaled to the largest interval) and pointing-game hit rate (bottom,
    0 to 1) of the rank-``rank`` maps, one column per model, bars per method and contrast with
    their 95 % bootstrap intervals; the uniform-map baselines dashed, the random maps' dotted."""
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(summary.model))
    rows = summary[summary["rank"] == rank]
    width = 0.8 / len(CONTRASTS)
    fig, axes = plt.subplots(2, len(models), figsize=(3.0 * len(models), 5.8), sharey="row",
                             squeeze=False)
    metrics = {"mass": ("positive mass on the part", "part_share", "random_mass"),
               "hit": ("pointing-game hit rate", "hit_zone_share", "random_hit")}
    for column, model in enumerate(models):
        base = chance[chance.model == model].iloc[0]
        for row, (metric, (label, uniform, random)) in enumerate(metrics.items()):
            ax = axes[row, column]
            for c, contrast in enumerate(CONTRASTS):
                bars = rows[(rows.model == model) & (rows.contrast == contrast)].set_index("method")
                bars = bars.reindex(list(METHODS))
                x = np.arange(len(METHODS)) + (c - (len(CONTRASTS) - 1) / 2) * width
                error = [bars[metric] - bars[f"{metric}_low"], bars[f"{metric}_high"] - bars[metric]]
                ax.bar(x, bars[metric], width, yerr=error, color=CONTRAST_COLOURS[contrast],
                       label=LABELS[contrast], error_kw={"linewidth": 0.8})
            ax.axhline(base[uniform], color="black", linestyle="--", linewidth=0.8,
                       label="uniform map")
            ax.axhline(base[random], color="black", linestyle=":", linewidth=1.0,
                       label="random map")
            ax.set_xticks(np.arange(len(METHODS)), [METHOD_LABELS[m] for m in METHODS])
            ax.set_ylim(0, 1 if metric == "hit" else 1.15 * float(rows.mass_high.max()))
            if column == 0:
                ax.set_ylabel(label)
            if row == 0:
                ax.set_title(f"{model} ({int(base.images)} images)", fontsize="medium")
    axes[0, -1].legend(fontsize="x-small", loc="upper right")
    whose = "t1 (why t1, not t2?)" if rank == 1 else "t2, the reverse direction (why t2, not t1?)"
    fig.suptitle(f"Maps of {whose} on the part that separates t1 and t2", y=1.0)
    fig.tight_layout()
    return fig


# --- claims: per-setting effects judged by whynot.claims, combined into one record per claim -----

#: The columns of the table each comparison reads, and the metric module that says which way is
#: better (its ``DIRECTION``): the mass on the t1/t2 part, on the t1/t3 part, on the bird.
METRIC_MODULES = {"mass": "part_mass", "hit": "pointing_game", "third_mass": "part_mass",
                  "bird_mass": "part_mass"}
METRIC_LABELS = {"mass": "part mass", "hit": "pointing", "third_mass": "t1/t3 part mass",
                 "bird_mass": "bird mass"}


def metric_module(metric: str):
    """The :mod:`whynot.metrics` module of a table column (its ``DIRECTION`` judges claims)."""
    import importlib

    return importlib.import_module(f"whynot.metrics.{METRIC_MODULES[metric]}")


def third_scored(table: pd.DataFrame, threshold: float = THRESHOLD) -> pd.DataFrame:
    """The rows scored on the third class (the reports' Fig. 5 selection, ``p3 > threshold``):
    ``t1`` and ``t3`` differ in one visible part, and it is not the part that separates ``t1``
    and ``t2`` (there the max contrast sees it too)."""
    return table[(table.p3 > threshold) & (table.third_part != "")
                 & (table.third_part != table.part) & (table.third_part_pixels > 0)]


def compare(table: pd.DataFrame, contrast: str, reference: str, metrics: Sequence[str] = ("mass",),
            ranks: Sequence[int] = (1,), methods: Sequence[str] = METHODS, selection: str = "pair",
            threshold: float = THRESHOLD, seed: int = 0, n_resamples: int = 2000) -> pd.DataFrame:
    """Per model, method, rank and metric: ``effect``, the mean over images of the paired
    difference ``metric(contrast map) - metric(reference map)``, with its 95 % bootstrap
    interval over images (``low``, ``high``), and ``verdict``, the claim "``contrast`` is better
    on the metric" judged by :func:`whynot.claims.judge` in the metric's ``DIRECTION``
    ("not resolved" below :data:`MIN_IMAGES` images). ``selection``: ``"pair"`` scores the
    images of :func:`scored` (``p2 > threshold``, one t1/t2 part), ``"third"`` those of
    :func:`third_scored` (``p3 > threshold``)."""
    chosen = scored(table, threshold) if selection == "pair" else third_scored(table, threshold)
    chosen = chosen[chosen["rank"].isin(ranks) & chosen.method.isin(methods)]
    index = ["model", "method", "rank", "image"]
    ours = chosen[chosen.contrast == contrast].set_index(index)
    theirs = chosen[chosen.contrast == reference].set_index(index).reindex(ours.index)
    rows = []
    for metric in metrics:
        difference = (ours[metric] - theirs[metric]).dropna()
        for (model, method, rank), values in difference.groupby(level=[0, 1, 2], sort=False):
            low, high = bootstrap_ci(values.to_numpy(), n_resamples=n_resamples, seed=seed)
            verdict = judged(low, high, len(values), metric_module(metric))
            rows.append({"model": model, "method": method, "rank": rank, "metric": metric,
                         "comparison": f"{LABELS[contrast]} - {LABELS[reference]}",
                         "images": len(values), "effect": float(values.mean()), "low": low,
                         "high": high, "verdict": verdict})
    return pd.DataFrame(rows, columns=["model", "method", "rank", "metric", "comparison",
                                       "images", "effect", "low", "high", "verdict"])


def judged(low: float, high: float, images: int, claimed="higher", boundary: float = 0.0,
           min_images: int = MIN_IMAGES) -> str:
    """:func:`whynot.claims.judge`, except that fewer than ``min_images`` images resolve
    nothing ("not resolved")."""
    return judge(low, high, claimed, boundary) if images >= min_images else "not resolved"


_SEVERITY = {"does not hold": 0, "not resolved": 1, "partly holds": 1, "holds": 2}


def settings_record(claim: str, settings: pd.DataFrame, data: str = "SynthBirds test split",
                    min_images: int = MIN_IMAGES, decimals: int = 3) -> Record:
    """One record for a claim tested in several settings, the rows of ``settings``: ``effect``,
    ``low``, ``high``, ``images``, ``verdict``, optionally ``claimed`` ("higher" when absent)
    and ``boundary`` (0), and naming columns (``source``, ``model``, ``method``, ``rank``,
    ``metric``, ``comparison``). Settings with fewer than ``min_images`` images are left out.
    The verdict is :func:`whynot.claims.combine` of the rest; the effect shown is the weakest
    setting's (worst verdict, then the interval bound nearest the boundary), named in
    ``model``; ``why`` counts the settings by verdict."""
    from whynot.claims import tally

    if settings.empty:
        return Record(claim, "not resolved", "no image qualified for any setting", data=data)
    judged_rows = settings[settings.images >= min_images]
    left_out = len(settings) - len(judged_rows)
    note = f"; {left_out} with fewer than {min_images} images left out" if left_out else ""
    if judged_rows.empty:
        return Record(claim, "not resolved", f"no setting has {min_images} images{note}",
                      data=data)
    sign = np.where(judged_rows.get("claimed", "higher") == "lower", -1.0, 1.0)
    nearest = np.where(sign > 0, judged_rows.low, judged_rows.high).astype(float)
    boundary = np.asarray(judged_rows.get("boundary", 0.0), dtype=float)
    margin = np.nan_to_num(sign * (nearest - boundary), nan=-np.inf)
    severity = judged_rows.verdict.map(_SEVERITY).to_numpy()
    weakest = judged_rows.iloc[int(np.lexsort((margin, severity))[0])]
    names = [c for c in ("source", "model", "method", "rank", "metric", "comparison")
             if c in judged_rows]
    varying = [c for c in names if judged_rows[c].nunique() > 1] or names
    label = ", ".join(_setting_label(c, weakest[c]) for c in names if str(weakest[c]) != data)
    why = (f"{tally(judged_rows.verdict)} in {len(judged_rows)} "
           f"setting{'s' * (len(judged_rows) != 1)} "
           f"({' x '.join(varying)}){note}; shown: the weakest")
    return Record(claim, combine(judged_rows.verdict), why, _finite(weakest.effect),
                  _finite(weakest.low), _finite(weakest.high), int(weakest.images), "images",
                  data, label, decimals)


def _setting_label(column: str, value) -> str:
    if column == "method":
        return ALL_METHOD_LABELS.get(value, value)
    if column == "rank":
        return f"map of t{value}"
    if column == "metric":
        return METRIC_LABELS.get(value, value)
    return str(value)


def _finite(value) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def claim_records(table: pd.DataFrame, threshold: float = THRESHOLD, seed: int = 0,
                  n_resamples: int = 2000) -> tuple[list[Record], dict[str, pd.DataFrame]]:
    """Chapter 03's localization claims, each judged per model x method (x rank, metric) and
    combined, with the settings tables they come from:

    * ``wang-fig4-parts`` (Sec. 5.2.1: the weighted maps "have focus on specific parts"): Grad-CAM
      and LA, weighted against original, part mass and pointing on the t1/t2 part, maps of t1
      and t2;
    * ``reports-xgradcam`` (the KTH report's XGrad-CAM extension): the same for XGrad-CAM;
    * ``wang-fig5-max`` (Sec. 5.3: max is "insufficient"): weighted against max on the map of t1,
      part mass on the t1/t2 part (``p2 > 0.1``) and on the t1/t3 part (``p3 > 0.1``), which only
      the weighted contrast sees;
    * ``wang-tradeoff`` (Sec. 6: logit maps localise better, p maps show the contrast): the
      original map's bird mass above the weighted map's, and the weighted map's part mass above
      the original's, on the map of t1.
    """
    options = {"threshold": threshold, "seed": seed, "n_resamples": n_resamples}
    settings = {
        "wang-fig4-parts": compare(table, "weighted", "logit", ("mass", "hit"), (1, 2),
                                   ("gradcam", "la"), **options),
        "reports-xgradcam": compare(table, "weighted", "logit", ("mass", "hit"), (1, 2),
                                    ("xgradcam",), **options),
        "wang-fig5-max": pd.concat([
            compare(table, "weighted", "max", ("mass",), **options),
            compare(table, "weighted", "max", ("third_mass",), selection="third", **options),
        ], ignore_index=True),
        "wang-tradeoff": pd.concat([
            compare(table, "logit", "weighted", ("bird_mass",), **options),
            compare(table, "weighted", "logit", ("mass",), **options),
        ], ignore_index=True),
    }
    records = [settings_record(claim, rows) for claim, rows in settings.items()]
    return records, settings


# The chapter's tables: each estimate with its 95 % interval (whynot.tables merges x, x_low,
# x_high into one column); pointing is the share of images whose maximum hits the part.
SUMMARY_HEADERS = {"mass": "part mass", "mass_gain": "part mass gain vs original",
                   "hit": "pointing (share)", "hit_gain": "pointing gain vs original"}
CHANCE_HEADERS = {"part_share": "uniform map: part share",
                  "random_mass": "random map: part mass",
                  "hit_zone_share": "uniform maximum: hit rate",
                  "random_hit": "random map: hit rate"}


def _with_bounds(names: Sequence[str]) -> list[str]:
    return [f"{name}{suffix}" for name in names for suffix in ("", "_low", "_high")]


def summary_columns() -> list[str]:
    """The columns of :func:`summarize`'s table that the chapter shows."""
    return ["model", "method", "contrast", "images", *_with_bounds(SUMMARY_HEADERS)]


def chance_columns() -> list[str]:
    """The columns of :func:`baselines`' table that the chapter shows."""
    return ["model", "images", *_with_bounds(CHANCE_HEADERS)]
