r"""Gradient-sign perturbation (paper Sec. 5.1, Fig. 3), with the reports' corrected update.

Each contrast's input gradient :math:`\phi_t` nudges every pixel by ``eps / N`` in the direction
that raises the contrast's score, ``N`` times, inside the ``eps``-box around the image:

.. math::
    x^{n+1} = \mathrm{clamp}\big(x^n + \tfrac{\epsilon}{N}\,\mathrm{sign}\,\phi_t(x^n),\;
    \max(x^0 - \epsilon, 0),\; \min(x^0 + \epsilon, 1)\big)

(the paper prints ``min``/``max`` the other way round and ``phi(x)`` instead of ``phi(x^n)``;
both reports corrected it). Pixels are in [0, 1]; the models normalise inside. If a contrast
picks the pixels that matter for ``t`` *against the other classes*, its perturbation should raise
``p_t`` and the accuracy most, while the logit ("original") raises ``y_t`` most.

>>> adversary = perturb(model, images, labels, ("logit", "weighted"), eps=3e-3, steps=2)
>>> adversary["weighted"].shape == images.shape                     # doctest: +SKIP
True
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from whynot.claims import Record, combine, judge, not_tested
from whynot.explainers.engine import check_images, check_logits
from whynot.explainers.hooks import model_guard
from whynot.experiments.images import load_images
from whynot.experiments.plans import data_config, model_on, plan_batches
from whynot.experiments.runner import Experiment
from whynot.labels import CONTRAST_LABELS
from whynot.report import fixed
from whynot.stats import paired_difference
from whynot.targets import check_contrasts, cotangents, select_classes

#: The paper's four gradients: original (the logit), mean, max and weighted contrast.
CONTRASTS = ("logit", "mean", "max", "weighted")
EPSILONS = (1e-3, 3e-3)  # the paper's printed eps, and the one its authors actually used
ITERATIONS = (1, 2, 10)
VERSION = 4  # of the experiment's results: bump when perturb() or the rows change
# (2: both eps in one pass, perturbed images scored together; 3: the first step's gradient at
# the clean image shared by every eps and iteration count; 4: channels-last. Each gives the same
# numbers up to round-off, which may flip the sign of a near-zero gradient pixel)
#: Images per forward pass when scoring the perturbed images (whole batches of images).
AFTER_CHUNK = 288


def perturb(
    model: nn.Module,
    images: Tensor,
    classes,
    contrast: str | Sequence[str] = CONTRASTS,
    eps: float = 3e-3,
    steps: int = 1,
) -> Tensor | dict[str, Tensor]:
    """Gradient-sign perturbation of ``images [B, 3, H, W]`` towards ``classes`` (one per image).

    Every contrast's trajectory runs in one batch (``len(contrast) * B`` images), so each of the
    ``steps`` iterations is one forward and one backward pass for all of them. The cotangent of
    each contrast (:func:`whynot.targets.cotangents`) is taken at the current iterate ``x^n``:
    alpha and the max contrast's strongest other class follow the perturbed image. ``weighted``
    has the sign of the gradient of ``p_t`` (they differ by the factor ``p_t (1 - p_t) > 0``),
    but does not vanish where that factor underflows in float32.

    Returns the perturbed images, or a dict contrast -> images for a sequence of contrasts.
    """
    contrasts = check_contrasts(contrast)
    check_images(images)
    if isinstance(eps, bool) or not (isinstance(eps, (int, float)) and 0 < eps <= 1):
        raise ValueError(f"eps must be a pixel-space bound in (0, 1], e.g. 3e-3; got {eps!r}.")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int (the paper uses 1, 2 or 10); got {steps!r}.")
    if images.min() < 0 or images.max() > 1:
        raise ValueError("perturb works on pixels in [0, 1] (the models normalise inside); got "
                         f"values in [{images.min().item():.3g}, {images.max().item():.3g}].")
    perturbed = trajectories(model, images, classes, contrasts, (eps,), (steps,))
    perturbed = {c: perturbed[eps, steps, c] for c in contrasts}
    return perturbed[contrast] if isinstance(contrast, str) else perturbed


def trajectories(model: nn.Module, images: Tensor, classes, contrasts: Sequence[str],
                 epsilons: Sequence[float], iterations: Sequence[int]
                 ) -> dict[tuple[float, int, str], Tensor]:
    """:func:`perturb` for every ``(eps, N, contrast)`` at once, in the fewest gradient passes.

    The first step of every trajectory follows the gradient at the clean image ``x^0``, the same
    for every ``eps`` and ``N``: one pass over ``len(contrasts)`` copies of the batch serves them
    all. Each further iteration of an iteration count ``N`` is one pass over its
    ``len(epsilons) * len(contrasts)`` copies (never larger than before this sharing), so a
    batch costs ``C (1 + E sum(N - 1))`` gradient passes per image instead of ``C E sum(N)``.
    The target classes are chosen once, at the clean image. Arguments are not checked here:
    call :func:`perturb`, or check them as it does."""
    batch, copies = images.shape[0], len(contrasts)
    # channels-last: faster convolutions and their gradients on a CPU (benchmarks/README.md)
    start = images.detach().repeat(copies, 1, 1, 1).contiguous(memory_format=torch.channels_last)
    bounds = {eps: ((start - eps).clamp(min=0), (start + eps).clamp(max=1)) for eps in epsilons}

    def step(x: Tensor, sign: Tensor, eps: float, steps: int) -> Tensor:
        low, high = bounds[eps]
        return torch.minimum(torch.maximum(x + eps / steps * sign, low), high)

    def gradient_signs(x: Tensor, targets: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x = x.detach().requires_grad_(True)
        logits = model(x)
        check_logits(logits, x.shape[0])
        values = logits.detach().split(batch)
        if targets is None:
            targets = select_classes(values[0], classes)
            if targets.shape[1] != 1:
                raise ValueError("perturb takes one target class per image (e.g. the labels).")
        v = torch.cat([cotangents(y, targets, c)[:, 0]
                       for y, c in zip(values, tuple(contrasts) * (x.shape[0] // len(start)))])
        (gradient,) = torch.autograd.grad(logits, x, grad_outputs=v)
        return gradient.sign(), targets

    perturbed = {}
    with model_guard(model), torch.enable_grad():
        first, targets = gradient_signs(start)
        for steps in iterations:
            x = [step(start, first, eps, steps) for eps in epsilons]
            for _ in range(steps - 1):
                signs, _ = gradient_signs(torch.cat(x), targets)
                x = [step(x_eps, sign, eps, steps)
                     for eps, x_eps, sign in zip(epsilons, x, signs.split(len(start)))]
            perturbed.update({(eps, steps, c): image for eps, x_eps in zip(epsilons, x)
                              for c, image in zip(contrasts, x_eps.split(batch))})
    return perturbed


@torch.no_grad()
def target_scores(model: nn.Module, images: Tensor, targets: Tensor) -> dict[str, Tensor]:
    """``y_t``, ``p_t`` and whether the prediction is ``t`` (``hit``), per image."""
    logits = model(images)
    index = targets[:, None]
    return {"y_t": logits.gather(1, index)[:, 0], "p_t": logits.softmax(dim=1).gather(1, index)[:, 0],
            "hit": logits.argmax(dim=1) == targets}


def perturbation_table(
    model: nn.Module,
    images: Tensor,
    targets: Tensor,
    epsilons: Sequence[float] = EPSILONS,
    iterations: Sequence[int] = ITERATIONS,
    contrasts: Sequence[str] = CONTRASTS,
) -> pd.DataFrame:
    """One row per image, eps, iteration count and contrast: the target's ``y_t``, ``p_t`` and
    hit before and after the perturbation (``image`` is the position in ``images``)."""
    before = target_scores(model, images, targets)
    contrasts, rows = tuple(contrasts), []
    perturbed = trajectories(model, images, targets, contrasts, tuple(epsilons), tuple(iterations))
    # every perturbed image's scores in forward passes of about AFTER_CHUNK images
    order = [(eps, steps, c) for eps in epsilons for steps in iterations for c in contrasts]
    stacked = torch.cat([perturbed[key] for key in order])
    size = max(len(images), AFTER_CHUNK // len(images) * len(images))
    scores = [target_scores(model, part, targets.repeat(len(part) // len(images)))
              for part in stacked.split(size)]
    after = {k: torch.cat([part[k] for part in scores]).split(len(images)) for k in scores[0]}
    for i, (eps, steps, contrast) in enumerate(order):
        rows.append(pd.DataFrame({
            "image": range(len(images)), "target": targets.cpu().numpy(),
            "eps": eps, "iterations": steps, "contrast": contrast,
            **{f"{k}_before": v.cpu().numpy() for k, v in before.items()},
            **{f"{k}_after": v[i].cpu().numpy() for k, v in after.items()},
        }))
    return pd.concat(rows, ignore_index=True)


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per model, eps, iterations and contrast: the mean changes in accuracy (hit rate), ``y_t``
    and ``p_t``, with normal 95 % confidence half-widths over images (``*_ci``), and the count."""
    table = _with_changes(table)
    keys = [k for k in ("model", "data", "eps", "iterations", "contrast") if k in table]
    grouped = table.groupby(keys, sort=False)[["accuracy", "y_t", "p_t"]]
    mean, sem = grouped.mean(), grouped.sem(ddof=1)
    summary = mean.join((1.96 * sem).add_suffix("_ci"))
    summary["images"] = grouped.size()
    summary["accuracy_before"] = table.groupby(keys, sort=False).hit_before.mean()
    return summary.reset_index()


# --- the paper's claims (whynot.claims.ch02): measured per setting, judged by whynot.claims ------

#: Mean changes are compared at these resolutions (finer digits are round-off and differ
#: between machines; accuracy changes are counts over the same images, so exact).
RESOLUTION = {"p_t": 1e-3, "y_t": 1e-2, "accuracy": 1e-9}
#: One setting of Fig. 3: a model, an eps and a number of iterations.
SETTING = ["model", "eps", "iterations"]
OUTCOMES = ("wins", "ties", "loses")
SETTINGS_UNIT = "settings (model x eps x iterations)"
RESAMPLES_PER_CHUNK = 100


def _resolved(summary: pd.DataFrame, metric: str) -> pd.Series:
    return (summary[metric] / RESOLUTION[metric]).round() * RESOLUTION[metric]


def _with_changes(table: pd.DataFrame) -> pd.DataFrame:
    """A :func:`perturbation_table` with the per-image changes ``accuracy``, ``y_t``, ``p_t``."""
    return table.assign(accuracy=table.hit_after.astype(float) - table.hit_before.astype(float),
                        y_t=table.y_t_after - table.y_t_before,
                        p_t=table.p_t_after - table.p_t_before)


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row of ``x`` with the same row of ``y`` (``[R, k]``, ties share
    their mean rank); NaN where a row is constant."""
    from scipy.stats import rankdata

    rx, ry = (rankdata(v, axis=1) for v in (x, y))
    rx, ry = rx - rx.mean(axis=1, keepdims=True), ry - ry.mean(axis=1, keepdims=True)
    scale = np.sqrt((rx**2).sum(axis=1) * (ry**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scale > 0, (rx * ry).sum(axis=1) / scale, np.nan)


def rank_agreement(table: pd.DataFrame, seed: int = 0, n_resamples: int = 2000) -> pd.DataFrame:
    """Fig. 3's first claim, per model and eps: Spearman's rho over the contrast x iterations
    conditions between the mean change in ``p_t`` and in accuracy (``rho_p``), and between
    ``y_t`` and accuracy (``rho_y``), means at :data:`RESOLUTION`; ``difference`` = rho_p - rho_y
    with a 95 % bootstrap interval (``low``, ``high``: images resampled, every condition of an
    image together). NaN where the accuracy did not move in any condition (all ranks tie)."""
    changes = _with_changes(table)
    rng = np.random.default_rng(seed)
    rows = []
    for (model, eps), group in changes.groupby(["model", "eps"], sort=False):
        wide = {m: group.pivot_table(index="image", columns=["contrast", "iterations"], values=m)
                .to_numpy() for m in RESOLUTION}  # [images, conditions]
        images = len(wide["accuracy"])

        def rhos(weights: np.ndarray) -> dict[str, np.ndarray]:
            """rho_p and rho_y of the weighted means, one per row of ``weights [R, images]``."""
            means = {m: np.round(weights @ v / RESOLUTION[m]) * RESOLUTION[m]
                     for m, v in wide.items()}
            return {m: _spearman_rows(means[m], means["accuracy"]) for m in ("p_t", "y_t")}

        point = rhos(np.full((1, images), 1 / images))
        resampled = []
        for start in range(0, n_resamples, RESAMPLES_PER_CHUNK):  # bounded memory on ImageNet
            draws = rng.integers(0, images, size=(min(RESAMPLES_PER_CHUNK, n_resamples - start),
                                                  images))
            counts = np.apply_along_axis(np.bincount, 1, draws, minlength=images)
            rho = rhos(counts / images)
            resampled.append(rho["p_t"] - rho["y_t"])
        difference = point["p_t"][0] - point["y_t"][0]
        defined = np.concatenate(resampled)
        defined = defined[~np.isnan(defined)]
        low, high = (np.quantile(defined, [0.025, 0.975])
                     if len(defined) and not np.isnan(difference) else (np.nan, np.nan))
        rows.append({"model": model, "eps": eps, "rho_p": point["p_t"][0],
                     "rho_y": point["y_t"][0], "difference": difference, "low": low,
                     "high": high, "images": images})
    return pd.DataFrame(rows)


#: A setting's outcome for weighted, from the 95 % interval of its margin over the best other.
OUTCOME_OF = {"holds": "wins", "not resolved": "ties", "does not hold": "loses"}


def weighted_margins(table: pd.DataFrame, metric: str, seed: int = 0) -> pd.DataFrame:
    """Per setting (model, eps, iterations): the mean change of ``metric`` under weighted minus
    that under the best other contrast (largest mean change at :data:`RESOLUTION`, the first of
    :data:`CONTRASTS` among equals), with a paired bootstrap 95 % interval over the images
    (``low``, ``high``), and the ``outcome``: weighted "wins" (the interval lies above 0),
    "ties" (it covers 0, by :func:`whynot.claims.judge`) or "loses" (it lies below)."""
    rows = []
    for setting, mine in _with_changes(table).groupby(SETTING, sort=False):
        means = mine.groupby("contrast", sort=False)[metric].mean().to_frame()
        others = means.drop("weighted").reindex([c for c in CONTRASTS if c != "weighted"])
        best = others.index[int(np.argmax(_resolved(others, metric).to_numpy()))]
        mine = mine.set_index("image")
        effect, low, high = paired_difference(mine[mine.contrast == "weighted"][metric],
                                              mine[mine.contrast == best][metric], seed=seed)
        rows.append({**dict(zip(SETTING, setting)), "best_other": best, "margin": effect,
                     "low": low, "high": high,
                     "outcome": OUTCOME_OF[judge(low, high, "higher")]})
    return pd.DataFrame(rows)


def outcome_counts(margins: pd.DataFrame) -> dict[str, int]:
    """``{"wins": w, "ties": t, "loses": l}`` over the settings of :func:`weighted_margins`."""
    found = margins.outcome.value_counts()
    return {outcome: int(found.get(outcome, 0)) for outcome in OUTCOMES}


def _context(summary: pd.DataFrame) -> dict[str, str]:
    return {"data": ", ".join(dict.fromkeys(summary.data)) if "data" in summary else "",
            "model": ", ".join(dict.fromkeys(summary.model))}


def rank_agreement_record(agreement: pd.DataFrame, summary: pd.DataFrame) -> Record:
    """``wang-fig3-pt-accuracy``: rho(p_t, accuracy) - rho(y_t, accuracy) above 0 in every
    model and eps (:func:`rank_agreement`), combined over them."""
    verdicts = [judge(row.low, row.high, "higher") for row in agreement.itertuples()]
    found = Counter(verdicts)
    why = (f"rho(dp_t, dacc) - rho(dy_t, dacc) over the 12 contrast x iterations conditions: "
           f"above 0 in {found['holds']}, below in {found['does not hold']}, not resolved in "
           f"{found['not resolved']} of {len(verdicts)} model x eps cases")
    return Record("wang-fig3-pt-accuracy", combine(verdicts), why, n=len(verdicts),
                  unit="settings (model x eps)", **_context(summary))


#: Fig. 3's "our method shows higher p_t and accuracy in all settings", one claim per metric.
BEST_CLAIMS = {"p_t": "wang-fig3-weighted-pt", "accuracy": "wang-fig3-weighted-accuracy"}


def weighted_best_record(metric: str, margins: pd.DataFrame, summary: pd.DataFrame) -> Record:
    """The Fig. 3 claim that weighted raises ``metric`` most "in all settings", from its wins,
    ties and losses (:func:`weighted_margins` of that metric): holds if it wins every setting,
    partly holds if it wins some, does not hold if it wins none and loses some
    (:func:`whynot.claims.combine`)."""
    counts = outcome_counts(margins)
    why = (f"weighted wins {counts['wins']}, ties {counts['ties']} (interval covers 0), loses "
           f"{counts['loses']} of {len(margins)} settings on the mean change in {metric} against "
           "the best other contrast")
    verdicts = [verdict for verdict, outcome in OUTCOME_OF.items() for _ in range(counts[outcome])]
    return Record(BEST_CLAIMS[metric], combine(verdicts), why, n=len(margins), unit=SETTINGS_UNIT,
                  **_context(summary))


#: The reports' reading of Fig. 3: these contrasts raise these metrics.
REPORTS_RAISE = (("weighted", "p_t"), ("weighted", "accuracy"), ("max", "p_t"),
                 ("max", "accuracy"), ("logit", "y_t"), ("mean", "y_t"))


def reports_raise_record(summary: pd.DataFrame) -> Record:
    """``reports-fig3``: each contrast of :data:`REPORTS_RAISE` raises its metric (mean change,
    normal 95 % interval, above 0) in every setting, combined."""
    verdicts = []
    for contrast, metric in REPORTS_RAISE:
        rows = summary[summary.contrast == contrast]
        verdicts += [judge(mean - ci, mean + ci, "higher")
                     for mean, ci in zip(rows[metric], rows[f"{metric}_ci"])]
    found = Counter(verdicts)
    why = (f"weighted and max on p_t and accuracy, original and mean on y_t: a rise in "
           f"{found['holds']}, a fall in {found['does not hold']}, not resolved in "
           f"{found['not resolved']} of {len(verdicts)} setting x contrast x metric cases")
    return Record("reports-fig3", combine(verdicts), why, n=len(verdicts),
                  unit="setting x contrast x metric cases", **_context(summary))


def effect_growth(summary: pd.DataFrame) -> dict[str, float]:
    """Per model: the mean change in ``p_t`` (over contrasts and iterations) at the largest eps
    divided by that at the smallest."""
    small, large = min(summary.eps), max(summary.eps)
    mean = summary.groupby(["model", "eps"], sort=False).p_t.mean()
    return {model: mean[model, large] / mean[model, small]
            for model in dict.fromkeys(summary.model)}


def eps_record(summary: pd.DataFrame) -> Record:
    """``reports-pgd-eps``: what the authors ran is known from their correspondence, so it is not
    tested; the ``why`` says what running both eps shows (the contrasts with the largest mean
    change in ``p_t`` agree at both in k of n model x iterations cases)."""
    small, large = min(summary.eps), max(summary.eps)
    largest = {}
    for setting, group in summary.groupby(SETTING, sort=False):
        change = _resolved(group, "p_t")
        largest[setting] = frozenset(group.contrast[change == change.max()])
    pairs = {(m, s) for m, _, s in largest}
    same = sum(largest[m, small, s] == largest[m, large, s] for m, s in pairs)
    growth = effect_growth(summary)
    return not_tested(
        "reports-pgd-eps",
        f"the authors' eps is known from their correspondence; we run both: the largest rise "
        f"in p_t comes from the same contrasts at both in {same} of {len(pairs)} model x "
        f"iterations cases, {fixed(min(growth.values()), 1)}-{fixed(max(growth.values()), 1)}x "
        f"larger at eps {large:g}")


def printed_update(model: nn.Module, images: Tensor, classes, contrast: str = "weighted",
                   eps: float = 3e-3, steps: int = 1) -> Tensor:
    """The update as the paper prints it (Sec. 5.1): ``steps`` steps of ``eps / steps``
    along ``sign(phi(x))``, the gradient at the start ``x``, each clamped to
    ``[min(x - eps, 0), max(x + eps, 1)]``. For comparison with :func:`perturb` only."""
    start = images.detach()
    with model_guard(model), torch.enable_grad():
        x = start.clone().requires_grad_(True)
        logits = model(x)
        targets = select_classes(logits.detach(), classes)
        v = cotangents(logits.detach(), targets, contrast)[:, 0]
        (gradient,) = torch.autograd.grad(logits, x, grad_outputs=v)
    lower, upper = (start - eps).clamp(max=0), (start + eps).clamp(min=1)
    x = start
    for _ in range(steps):
        x = torch.minimum(torch.maximum(x + eps / steps * gradient.sign(), lower), upper)
    return x


def printed_equation_record(model: nn.Module, images: Tensor, classes, eps: float = 3e-3,
                            data: str = "", model_name: str = "") -> Record:
    """``reports-pgd-equations``: the printed update takes the gradient at ``x``, so its
    iterations add up to one step (``1`` and ``max(ITERATIONS)`` steps give the same image, up
    to the round-off of adding ``eps / N`` N times), and its clamp bounds never bind, so pixels
    may leave [0, 1]. It holds if the printed iterations collapse: Fig. 3's bars differ between
    iteration counts, so the printed update is not what ran. The ``why`` gives the corrected
    update's (:func:`perturb`) difference beside it."""
    steps = max(ITERATIONS)
    one, many = (printed_update(model, images, classes, "weighted", eps, s) for s in (1, steps))
    collapse = (many - one).abs().max().item()
    outside = ((one < 0) | (one > 1)).double().mean().item()
    corrected = (perturb(model, images, classes, "weighted", eps, steps)
                 - perturb(model, images, classes, "weighted", eps, 1)).abs().max().item()
    collapses = collapse <= eps * 1e-3
    why = (f"max |x({steps} iterations) - x(1)|: {fixed(collapse / eps, 3)} eps printed, "
           f"{fixed(corrected / eps, 1)} eps corrected; {fixed(100 * outside, 1)} % of pixels "
           "leave [0, 1] under the printed clamp")
    return Record("reports-pgd-equations", "holds" if collapses else "does not hold", why,
                  n=images.shape[0], data=data, model=model_name)


def reference_vgg16() -> dict:
    """The KTH report's VGG16 accuracies after the perturbation (ImageNet, eps = 3e-3)."""
    import json
    from importlib.resources import files

    return json.loads(files("whynot").joinpath("reference", "pgd_vgg16.json").read_text())


def compare_with_reference(summary: pd.DataFrame) -> pd.DataFrame:
    """Accuracy before and after, per contrast and iteration count: the KTH report's VGG16
    beside each of our models in ``summary`` at the report's eps (NaN where it gives none)."""
    reference = reference_vgg16()
    ours = summary[summary.eps == reference["eps"]]
    models = list(dict.fromkeys(ours.model))
    before = {"contrast": "(before)", "iterations": 0, "KTH: VGG16 (ImageNet)": reference["accuracy_before"],
              **{f"ours: {m}": ours[ours.model == m].accuracy_before.iloc[0] for m in models}}
    rows = [before]
    for contrast in ("logit", "max", "weighted", "mean"):
        for steps in sorted(set(ours.iterations)):
            row = {"contrast": LABELS[contrast], "iterations": steps, "KTH: VGG16 (ImageNet)":
                   reference["accuracy_after"].get(contrast, {}).get(str(steps), float("nan"))}
            for m in models:
                mine = ours[(ours.model == m) & (ours.iterations == steps) & (ours.contrast == contrast)]
                row[f"ours: {m}"] = (mine.accuracy_before + mine.accuracy).item()
            rows.append(row)
    return pd.DataFrame(rows)

# --- the experiment, for the runner (python -m whynot.experiments run pgd --profile P) ----------

#: Per profile: (model, data, number of images); data "synthbirds" (test split, labels as
#: targets), "photos" (no labels: the clean prediction is the target) or "imagenet" (val).
PLANS: dict[str, dict] = {
    "smoke": {"models": [("synth_vgg", "synthbirds", 8), ("efficientnet_lite0", "photos", 1)],
              "batch_size": 8},
    "default": {"models": [*((m, "synthbirds", 432) for m in
                             ("synth_vgg", "synth_resnet", "synth_mobile", "synth_vit")),
                           *((f"efficientnet_lite{v}", "photos", 2) for v in range(3))],
                "batch_size": 36},
    "full": {"models": [(m, "imagenet", 50000) for m in (
        "resnet18", "alexnet", "googlenet", "mobilenet_v3_small", "mobilenet_v3_large",
        "mnasnet1_0", "vgg16", "efficientnet_b1", "densenet161")], "batch_size": 32},
}


def experiment(profile: str = "default", seed: int = 0, models: Sequence[str] | None = None,
               n_images: int | None = None, batch_size: int | None = None) -> Experiment:
    """The Fig. 3 experiment of ``profile`` (:data:`PLANS`), optionally restricted to ``models``
    or to the first ``n_images`` of each (a class-balanced prefix on SynthBirds).

    Batches never mix models; the full profile reads ImageNet val from ``$WHYNOT_IMAGENET_VAL``.
    """
    chosen, batches = plan_batches(profile, PLANS, models, n_images, batch_size)
    config = {"profile": profile, "seed": seed, "models": chosen, "epsilons": list(EPSILONS),
              "iterations": list(ITERATIONS), "contrasts": list(CONTRASTS), **data_config(chosen)}

    def run_batch(batch: Mapping, device: torch.device) -> pd.DataFrame:
        model = model_on(batch["model"], str(device))
        images, labels = load_images(batch["data"], model, seed, batch["start"], batch["stop"])
        images = images.to(device)
        if labels is None:
            with torch.no_grad():
                targets = model(images).argmax(dim=1)
        else:
            targets = labels.to(device)
        table = perturbation_table(model, images, targets)
        table["image"] += batch["start"]
        table.insert(0, "data", batch["data"])
        table.insert(0, "model", batch["model"])
        table.insert(3, "target_is", "prediction" if labels is None else "label")
        return table

    return Experiment("pgd", VERSION, config, batches, run_batch)


# --- figures ------------------------------------------------------------------------------------

#: The paper's order of the contrasts and its names for them.
LABELS = {c: CONTRAST_LABELS[c] for c in ("weighted", "logit", "mean", "max")}
METRICS = {"accuracy": r"$\Delta$ accuracy", "p_t": r"$\Delta p_t$", "y_t": r"$\Delta y_t$"}


def changes(table: pd.DataFrame) -> pd.DataFrame:
    """Long form of a :func:`perturbation_table`: one row per image, condition and metric, with
    the change ``value`` (after - before) and the paper's contrast names."""
    wide = table.assign(accuracy=table.hit_after.astype(float) - table.hit_before.astype(float),
                        p_t=table.p_t_after - table.p_t_before, y_t=table.y_t_after - table.y_t_before,
                        contrast=table.contrast.map(LABELS))
    keys = [c for c in ("model", "data", "image", "eps", "iterations", "contrast") if c in wide]
    return wide.melt(id_vars=keys, value_vars=list(METRICS), var_name="metric")


def plot_figure3(table: pd.DataFrame, eps: float, models: Sequence[str] | None = None):
    """Paper Fig. 3 for one ``eps``: mean changes with 95 % intervals (1.96 standard errors),
    rows accuracy / ``p_t`` / ``y_t`` (``y_t`` on its own scale), one column per model, bars
    grouped by contrast and coloured by the number of iterations as in the paper."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    from whynot.viz import FULL_WIDTH_INCHES

    long = changes(table[table.eps == eps])
    models = list(dict.fromkeys(long.model)) if models is None else list(models)
    # a full-width cell: wider figures are shrunk, their text with them (tight bounding box:
    # the labels outside the axes take about half an inch more)
    width = min(2.4 * len(models) + 1.4, FULL_WIDTH_INCHES - 0.5)
    fig, axes = plt.subplots(3, len(models), figsize=(width, 7.2),
                             sharex=True, sharey="row", squeeze=False)
    palette = {1: "#8c8c8c", 2: "#e8743b", 10: "#3a6fd8"}  # the paper's grey, red, blue
    for column, model in enumerate(models):
        for row, (metric, label) in enumerate(METRICS.items()):
            ax = axes[row, column]
            data = long[(long.model == model) & (long.metric == metric)]
            sns.barplot(data=data, x="contrast", y="value", hue="iterations", order=list(LABELS.values()),
                        palette=palette, errorbar=("se", 1.96), ax=ax, legend=row == 0 and column == 0)
            ax.axhline(0, color="black", linewidth=0.6)
            ax.set(xlabel="", ylabel=label if column == 0 else "")
            if row == 0:
                ax.set_title(model, fontsize="medium")
            ax.tick_params(axis="x", labelrotation=30)
    if axes[0, 0].get_legend() is not None:
        axes[0, 0].get_legend().set_title("iterations")
    fig.suptitle(f"Gradient-sign perturbation, eps = {eps:g}", y=1.0)
    fig.tight_layout()
    return fig


def plot_perturbations(model: nn.Module, image: Tensor, target: int, class_names: Sequence[str],
                       eps: float = 3e-3, steps: int = 10, top: int = 4):
    """One image, its perturbation under each contrast (``(x' - x) / eps``, channel mean, on a
    blue-white-red scale), and the probabilities of the classes most probable before, before
    and after each."""
    import matplotlib.pyplot as plt
    import numpy as np

    images = image[None]
    targets = torch.tensor([target], device=image.device)
    perturbed = perturb(model, images, targets, CONTRASTS, eps=eps, steps=steps)
    with torch.no_grad():
        before = model(images).softmax(dim=1)[0]
        after = {c: model(x).softmax(dim=1)[0] for c, x in perturbed.items()}
    shown = before.topk(top).indices.tolist()
    if target not in shown:
        shown[-1] = target
    fig, axes = plt.subplots(2, len(CONTRASTS) + 1, figsize=(1.8 * (len(CONTRASTS) + 1), 5.2),
                             gridspec_kw={"height_ratios": [1.2, 1]})
    axes[0, 0].imshow(image.permute(1, 2, 0).cpu().numpy())
    axes[0, 0].set_title(f"image (t = {class_names[target]})", fontsize="small")
    width = 0.4
    for column, contrast in enumerate(CONTRASTS, start=1):
        delta = ((perturbed[contrast][0] - image) / eps).mean(dim=0)  # in [-1, 1]
        axes[0, column].imshow(delta.cpu().numpy(), cmap="bwr", vmin=-1, vmax=1)
        axes[0, column].set_title(f"{LABELS[contrast]}", fontsize="small")
        ax = axes[1, column]
        positions = np.arange(len(shown))
        ax.bar(positions - width / 2, before[shown].cpu().numpy(), width, color="#bbbbbb", label="before")
        ax.bar(positions + width / 2, after[contrast][shown].cpu().numpy(), width,
               color=["#d62728" if c == target else "#1f77b4" for c in shown], label="after")
        ax.set_xticks(positions, [class_names[c] for c in shown], rotation=60, ha="right",
                      fontsize="x-small")
        ax.set_ylim(0, 1)
    axes[1, 1].set_ylabel("probability")
    axes[1, 1].legend(fontsize="x-small")
    axes[1, 0].axis("off")
    for ax in axes[0]:
        ax.axis("off")
    fig.suptitle(f"eps = {eps:g}, {steps} iterations. Top: (x' - x) / eps, mean over colour\n"
                 "channels (red brighter, blue darker). Bottom: probabilities", fontsize="medium")
    fig.tight_layout()
    return fig
