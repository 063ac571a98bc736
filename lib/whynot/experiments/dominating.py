r"""Dominating classes: the reports' Sec. 4.3, tested once for the whole book.

Both reports: "The authors have explicitly chosen not to do experiments on images where there
exist dominating classes where :math:`p_1 \gg p_2`. This is not motivated in the paper but is
likely because the method becomes worse or is reduced to the original explanation under such
circumstances." The claim has two parts, each tested per architecture as a rank correlation over
images (Spearman, with a percentile-bootstrap 95 % interval over images, :func:`rank_correlation`):

* **reduced to the original**: :math:`\rho(p_1 - p_2,\ s)`, where ``s`` is the Pearson
  correlation over pixels between the weighted map of ``t1`` and its logit (original) map.
  A correlation is scale-free, so the Jacobian's norm, which shrinks as :math:`p_1 \to 1`, is
  not part of it. The part holds where :math:`\rho > 0`: the maps get more alike as ``t1``
  dominates.
* **becomes worse**: :math:`\rho(p_1,\ a)`, where ``a`` is the per-image advantage of the weighted
  map over the original, on Table 1 (chapter 04's blurring experiment: the relative probability
  of the map's own class, in the paper's direction, averaged over the plain cells) and on part
  localization (chapter 03's experiment: part mass of ``t1``'s map, weighted minus original,
  averaged over methods). The part holds where :math:`\rho < 0`: the advantage shrinks as
  ``t1`` dominates.

The CNNs' map similarities come from this module's experiment (:func:`experiment`: Grad-CAM,
LA and XGrad-CAM of ``t1`` on the SynthBirds test images); chapters 03's and 04's per-image
tables are read from their stores through the runner (:func:`chapter_tables`); the ViT's rows come
from chapter 05's table (:func:`from_vit_table`). Every per-image frame has the columns
``model, image, p1, p2, value``.

>>> frames = chapter_tables("default")                                   # doctest: +SKIP
>>> record(trends(**frames))                                             # doctest: +SKIP
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata
from torch import Tensor, nn

from whynot.claims import Record, combine, judge
from whynot.experiments import runner
from whynot.experiments.plans import data_config, model_on, plan_batches
from whynot.experiments.runner import Experiment
from whynot.metrics.model_randomization import pearson
from whynot.stats import bootstrap_ci

VERSION = 1
CLAIM = "reports-dominating"
METHODS = ("gradcam", "la", "xgradcam")
CNNS = ("synth_vgg", "synth_resnet", "synth_mobile")
PLANS: dict[str, dict] = {
    "smoke": {"models": [(m, "synthbirds", 54) for m in CNNS], "batch_size": 54},
    "default": {"models": [(m, "synthbirds", 1080) for m in CNNS], "batch_size": 120},
    "full": {"models": [(m, "synthbirds", 1080) for m in CNNS], "batch_size": 120},
}
#: Per-image values are rounded to this before ranking, so that round-off cannot reorder ties.
RESOLUTION = 1e-6
#: The paper's direction per Table 1 cell: keeping the positive features should raise the
#: class's relative probability, keeping the negative ones lower it.
KEPT_SIGN = {"positive": 1, "negative": -1}
#: part -> (what the value is, the dominance it is ranked against, the claimed sign of rho).
PARTS: dict[str, tuple[str, str, str]] = {
    "reduced to the original": ("corr(weighted map, logit map) of t1", "p1 - p2", "higher"),
    "worse on Table 1": ("weighted - original relative probability", "p1", "lower"),
    "worse on part localization": ("weighted - original part mass of t1", "p1", "lower"),
}


# --- the CNNs' map similarities (an experiment for the runner) ----------------------------------
def similarity_rows(model: nn.Module, images: Tensor, start: int = 0,
                    methods: Sequence[str] = METHODS) -> pd.DataFrame:
    """One row per image and method: ``t1, t2, p1, p2`` and ``similarity``, the Pearson
    correlation over pixels of ``t1``'s weighted map with its logit map (NaN for a constant map)."""
    import whynot

    images = images.to(next(model.parameters()).device)
    with torch.no_grad():
        top = model(images).softmax(dim=1).topk(2, dim=1)
    maps = whynot.explain(model, images, method=tuple(methods), classes=top.indices[:, :1],
                          contrast=("logit", "weighted"))
    image_rows = pd.DataFrame({
        "image": np.arange(start, start + len(images)), "t1": top.indices[:, 0].cpu().numpy(),
        "t2": top.indices[:, 1].cpu().numpy(), "p1": top.values[:, 0].cpu().double().numpy(),
        "p2": top.values[:, 1].cpu().double().numpy()})
    blocks = []
    for method in methods:
        weighted, logit = (maps[method][c][:, 0].detach().cpu().double()
                           for c in ("weighted", "logit"))
        blocks.append(image_rows.assign(method=method, similarity=pearson(weighted, logit).numpy()))
    return pd.concat(blocks, ignore_index=True)


def experiment(profile: str = "default", seed: int = 0, models: Sequence[str] | None = None,
               n_images: int | None = None, batch_size: int | None = None) -> Experiment:
    """The map similarities of ``profile`` (:data:`PLANS`): :func:`similarity_rows` of every
    SynthBirds test image, with a ``model`` column."""
    chosen, batches = plan_batches(profile, PLANS, models, n_images, batch_size)
    config = {"profile": profile, "seed": seed, "models": chosen, "methods": list(METHODS),
              **data_config(chosen)}

    def run_batch(batch: Mapping, device: torch.device) -> pd.DataFrame:
        from whynot.data.synthetic import load_synthbirds

        model = model_on(batch["model"], str(device))
        birds = load_synthbirds("test", seed=seed, n=batch["stop"]).subset(
            slice(batch["start"], batch["stop"]))
        rows = similarity_rows(model, birds.images, start=batch["start"])
        return rows.assign(model=batch["model"])

    return Experiment("dominating", VERSION, config, batches, run_batch)


# --- per-image frames: model, image, p1, p2, value -----------------------------------------------
def _per_image(rows: pd.DataFrame, values: pd.Series) -> pd.DataFrame:
    """The mean of ``values`` per (model, image) (NaN left out), with the image's p1 and p2."""
    frame = rows[["model", "image", "p1", "p2"]].assign(value=values.to_numpy())
    frame = frame.groupby(["model", "image"], sort=False, observed=True).agg(
        p1=("p1", "first"), p2=("p2", "first"), value=("value", "mean")).reset_index()
    return frame.assign(model=frame.model.astype(str))


def similarity_per_image(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`similarity_rows` (any methods) -> the mean similarity over methods per image."""
    return _per_image(table, table.similarity)


def table1_per_image(table: pd.DataFrame) -> pd.DataFrame:
    """Chapter 04's blurring table -> per image, the mean over its plain Table 1 cells (baseline,
    method, target, kept) of the weighted map's advantage over the original,
    ``sign(kept) * (r_weighted - r_logit)``."""
    cells = ["model", "image", "baseline", "method", "target", "kept"]
    plain = table[table.variant.astype(str) == "plain"]
    plain = plain.astype({c: str for c in cells[2:] + ["contrast"]})
    paired = plain.pivot_table(index=cells, columns="contrast", values="r",
                               observed=True).reset_index()
    paired = paired.merge(plain.drop_duplicates(["model", "image"])[["model", "image", "p1", "p2"]],
                          on=["model", "image"])
    advantage = paired.kept.map(KEPT_SIGN) * (paired.weighted - paired.logit)
    return _per_image(paired, advantage)


def localization_per_image(table: pd.DataFrame) -> pd.DataFrame:
    """Chapter 03's localization table (or chapter 05's, see :func:`from_vit_table`) -> per
    image whose top two classes differ in one visible part, the weighted map's part-mass advantage
    over the original map of ``t1``, averaged over methods (maps without positive mass left out)."""
    rows = table[(table["rank"] == 1) & (table.part != "") & (table.part_pixels > 0)
                 & table.contrast.isin(["logit", "weighted"])]
    paired = rows.pivot_table(index=["model", "image", "method"], columns="contrast", values="mass",
                              observed=True, dropna=False).reset_index()
    paired = paired.merge(rows.drop_duplicates(["model", "image"])[["model", "image", "p1", "p2"]],
                          on=["model", "image"])
    return _per_image(paired, paired.weighted - paired.logit)


def from_vit_table(table: pd.DataFrame, methods: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Chapter 05's table -> ``{"similarity": ..., "localization": ...}`` per-image frames of the
    ViT (``model`` is its name) for ``methods`` (e.g. the default layer's Grad-CAM and rollout);
    the localization frame only where the table has part masks."""
    rows = table[(table.model == "vit") & table.method.isin(methods)]
    rows = rows.assign(model=rows["vit"])
    first = rows[(rows["rank"] == 1) & (rows.contrast == "weighted")]
    frames = {"similarity": _per_image(first, first.corr_own)}
    if "mass" in rows:
        frames["localization"] = localization_per_image(rows)
    return frames


def chapter_tables(profile: str, seed: int = 0) -> dict[str, pd.DataFrame]:
    """The CNNs' per-image frames of ``profile``: ``similarity`` (this module's experiment),
    ``table1`` (chapter 04's store) and ``localization`` (chapter 03's store), each run or read
    through the runner (cached)."""
    def stored(name: str) -> pd.DataFrame:
        return runner.run(runner.load_experiment(name, profile))

    return {"similarity": similarity_per_image(runner.run(experiment(profile, seed=seed))),
            "table1": table1_per_image(stored("blurring")),
            "localization": localization_per_image(stored("localization"))}


def all_frames(profile: str, seed: int = 0, vit_table: pd.DataFrame | None = None,
               vit_methods: Sequence[str] = ()) -> dict[str, pd.DataFrame]:
    """:func:`chapter_tables` of ``profile`` with the ViT's frames (:func:`from_vit_table`)
    appended where ``vit_table`` is given: the keyword arguments of :func:`trends`."""
    frames = chapter_tables(profile, seed)
    if vit_table is not None:
        for name, frame in from_vit_table(vit_table, vit_methods).items():
            frames[name] = pd.concat([frames[name], frame], ignore_index=True)
    return frames


# --- the trend, per architecture and part --------------------------------------------------------
def _spearman(sample: np.ndarray, axis: int = 0) -> float:
    """Spearman correlation of the two columns of ``sample`` (average ranks for ties; NaN when a
    column is constant), as a bootstrap statistic."""
    ranks = rankdata(sample, axis=0)
    ranks = ranks - ranks.mean(axis=0)
    scale = np.sqrt((ranks ** 2).sum(axis=0).prod())
    return float((ranks[:, 0] * ranks[:, 1]).sum() / scale) if scale > 0 else float("nan")


def rank_correlation(x: pd.Series | np.ndarray, y: pd.Series | np.ndarray, seed: int = 0,
                     n_resamples: int = 2000) -> tuple[float, float, float]:
    """Spearman correlation of ``x`` and ``y`` (paired rows; rows with a NaN dropped) with a
    percentile-bootstrap 95 % interval over the rows; NaNs for fewer than three rows."""
    pairs = np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])
    pairs = pairs[~np.isnan(pairs).any(axis=1)]
    if len(pairs) < 3:
        return float("nan"), float("nan"), float("nan")
    low, high = bootstrap_ci(pairs, statistic=_spearman, n_resamples=n_resamples, seed=seed)
    return _spearman(pairs), low, high


def _rounded(values: pd.Series) -> np.ndarray:
    return np.round(values.to_numpy(dtype=float) / RESOLUTION) * RESOLUTION


def trends(similarity: pd.DataFrame | None = None, table1: pd.DataFrame | None = None,
           localization: pd.DataFrame | None = None, seed: int = 0,
           n_resamples: int = 2000) -> pd.DataFrame:
    """One row per architecture and part of the claim (:data:`PARTS`) that the frames cover:
    ``rho`` (Spearman correlation of the value with the dominance over images), its interval
    ``low, high``, ``images`` and the part's ``verdict`` (:func:`whynot.claims.judge`)."""
    rows = []
    for part, frame in zip(PARTS, (similarity, table1, localization)):
        if frame is None or frame.empty:
            continue
        value, dominance, claimed = PARTS[part]
        for model, group in frame.groupby("model", sort=False):
            x = group.p1 - group.p2 if dominance == "p1 - p2" else group.p1
            rho, low, high = rank_correlation(_rounded(x), _rounded(group.value), seed, n_resamples)
            rows.append({"model": model, "part": part, "value": value, "against": dominance,
                         "rho": rho, "low": low, "high": high,
                         "images": int(group.value.notna().sum()),
                         "verdict": judge(low, high, claimed)})
    found = pd.DataFrame(rows)
    if found.empty:
        return found
    order = {**_model_order(found.model), **{p: i for i, p in enumerate(PARTS)}}
    return found.sort_values(["part", "model"], key=lambda c: c.map(order)).reset_index(drop=True)


def _model_order(models: Sequence[str]) -> dict[str, int]:
    """The book's order of architectures: the CNNs, then any other model as it comes."""
    return {m: i for i, m in enumerate(dict.fromkeys([*CNNS, *models]))}


def terciles(frame: pd.DataFrame, dominance: str = "p1") -> pd.DataFrame:
    """Per model, the mean value in the bottom, middle and top third of the images by
    ``dominance`` (``"p1"`` or ``"p1 - p2"``): what the rank correlation summarises."""
    x = frame.p1 - frame.p2 if dominance == "p1 - p2" else frame.p1
    ranked = x.groupby(frame.model, sort=False).rank(method="first", pct=True)
    third = pd.cut(ranked, [0, 1 / 3, 2 / 3, 1], labels=["bottom", "middle", "top"])
    table = frame.assign(third=third).pivot_table(index="model", columns="third", values="value",
                                                  observed=False)
    return table.sort_index(key=lambda models: models.map(_model_order(models)))


def tercile_table(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """:func:`terciles` of each frame of :func:`trends`' keyword arguments, one block per part."""
    names = dict(zip(("similarity", "table1", "localization"), PARTS))
    return pd.concat({names[name]: terciles(frame, PARTS[names[name]][1])
                      for name, frame in frames.items() if not frame.empty}, names=["part"])


def record(found: pd.DataFrame, data: str = "SynthBirds test images") -> Record:
    """The one record of ``reports-dominating``: :func:`whynot.claims.combine` of every
    architecture's and part's verdict, with a ``why`` that says which part holds where."""
    if found.empty:
        raise ValueError("no trend to judge: give trends() at least one per-image frame")
    parts = []
    for part, group in found.groupby("part", sort=False):
        by_verdict = group.groupby("verdict", sort=False).model.agg(", ".join)
        parts.append(f"{part}: " + "; ".join(f"{v} on {m}" for v, m in by_verdict.items()))
    return Record(CLAIM, combine(found.verdict), ". ".join(parts), n=len(found),
                  unit="settings (architecture x part)", data=data,
                  model=", ".join(dict.fromkeys(found.model)))
