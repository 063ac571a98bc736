r"""What the long chapters' experiments cost: the passes their plans need, and their floor.

A chapter's **floor** is the forward and backward passes its experiment cannot do without,
counted by hand from its plan (never from what the code happens to run), each at the speed of
one batched pass of its model:

.. math:: T_\text{floor} = \sum_\text{model} n_f\,t_f + n_g\,t_g + n_b\,(t_g - t_f)

with ``n_f`` no-grad forward passes, ``n_g`` forward passes with autograd each followed by one
backward pass, ``n_b`` further backward passes through the same graph (all in images), and
``t_f``, ``t_g`` the measured seconds per image of one batched forward, and of one forward
plus one backward pass to the input (parameters frozen). What is shared is counted once: the
clean image's forward pass serves the prediction, Average Drop and the curves' end points; the
deletion curve's last point and the insertion curve's first are the same blurred image.

>>> [(p.model, p.forward, p.gradient) for p in chapter_passes("02", "smoke")]
[('synth_vgg', 200, 672), ('efficientnet_lite0', 25, 84)]
>>> print(colab_estimate("06"))                                # doctest: +SKIP
The full profile (vgg19, resnet50) needs 51,058,500 image forward passes, ...

For a Colab user, :func:`colab_estimate` turns the full profile's passes into hours on a T4:
FLOPs per pass (torchvision's published counts, or counted on our models) over an assumed
sustained throughput (:data:`T4_SUSTAINED_FLOPS`). It is a floor: data loading, building the
masked copies and Python add to it (``benchmarks/README.md`` gives the ratios measured on a
CPU).
"""
from __future__ import annotations

import math
import textwrap
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd
import torch
from torch import nn

#: FLOPs per second a T4 sustains on float32 convolutions: half its 8.1 TFLOPS peak. An
#: assumption, stated in every estimate; depthwise models (MobileNet, EfficientNet) reach less.
T4_SUSTAINED_FLOPS = 4.0e12
#: Mapped COCO categories per image, for the pointing game's full-profile rows: the COCO paper's
#: 3.5 categories per image (Lin et al., 2014), an upper bound (only ImageNet-mapped ones count).
COCO_CATEGORIES_PER_IMAGE = 3.5
#: The chapters whose experiments this module counts, and their runner names (several where a
#: chapter runs several experiments).
CHAPTERS = {"02": "pgd", "03": ("localization", "foils"), "04": "blurring",
            "05": ("vit", "dominating"), "06": "groupcam", "07": "abscam"}
#: Where the data decide which images run, the estimate counts all: an upper bound, said so.
UPPER_BOUNDS = {"03": "every image counted as having p2 and p3 > 0.1",
                "04": "every image in Table 1's grid"}
#: What a chapter reads from other chapters' experiments, not counted in its estimate.
NOT_COUNTED = {"05": "The chapter also reads chapters 03's and 04's experiments from the cache "
                     "(counted there): where they have not run, it runs them."}


@dataclass(frozen=True)
class Passes:
    """Passes of one model at one input size, counted in images."""

    model: str
    size: int  # input side in pixels
    forward: int = 0  # no-grad forward passes
    gradient: int = 0  # forward with autograd + one backward pass
    extra_backward: int = 0  # further backward passes through a graph already built

    def __add__(self, other: "Passes") -> "Passes":
        return Passes(self.model, self.size, self.forward + other.forward,
                      self.gradient + other.gradient, self.extra_backward + other.extra_backward)

    def times(self, images: int) -> "Passes":
        return Passes(self.model, self.size, self.forward * images, self.gradient * images,
                      self.extra_backward * images)


def curve_points(size: int) -> int:
    """Points of a deletion or insertion curve at 1 % steps on a ``size x size`` image
    (:func:`whynot.metrics.removal_curves.removal_curves`): 99 at 56 px, 101 at 224 px."""
    pixels = size * size
    step = -(-pixels // 100)
    return len({min(count, pixels) for count in range(0, pixels + step, step)})


def curves_forward(size: int) -> int:
    """New images of one map's deletion and insertion curves: both end points of each curve are
    the clean or the blurred image, shared by every map of the image."""
    return 2 * (curve_points(size) - 2)


def input_size(name: str) -> int:
    """A model's input side without loading its weights."""
    if name.startswith("synth_"):
        from whynot.models.small import INPUT_SIZE

        return INPUT_SIZE
    if name.startswith("efficientnet_lite"):
        return {"0": 224, "1": 240, "2": 260, "3": 280, "4": 300}[name[-1]]  # timm's configs
    return 224  # the torchvision ImageNet crop of every full-profile model


def sizes(plan: Mapping, models: Sequence[str] | None = None,
          n_images: int | None = None) -> list[tuple[str, str, int, int]]:
    """``(model, data, images, input side)`` of a plan's models, kept and capped as
    :func:`whynot.experiments.plans.plan_batches` keeps them."""
    return [(m, d, n if n_images is None else min(n, n_images), input_size(m))
            for m, d, n in plan["models"] if models is None or m in models]


# --- per chapter: the passes of one image, counted from the chapter's plan ----------------------
def pgd_passes(profile: str, models: Sequence[str] | None = None,
               n_images: int | None = None) -> list[Passes]:
    """Chapter 02: per image ``1 + E I C`` forwards (clean, and every perturbed image) and
    ``C (1 + E sum(I - 1))`` gradient passes (every iteration of every contrast, the first
    step's gradient at the clean image shared by every eps and iteration count); the photos'
    target is the clean prediction, from the same clean forward."""
    from whynot.experiments import pgd

    contrasts, epsilons = len(pgd.CONTRASTS), len(pgd.EPSILONS)
    per_image = dict(forward=1 + epsilons * len(pgd.ITERATIONS) * contrasts,
                     gradient=contrasts * (1 + epsilons * sum(n - 1 for n in pgd.ITERATIONS)))
    return [Passes(m, s, **per_image).times(n)
            for m, _, n, s in sizes(pgd.PLANS[profile], models, n_images)]


def blurring_passes(profile: str, models: Sequence[str] | None = None,
                    n_images: int | None = None,
                    table: pd.DataFrame | None = None) -> list[Passes]:
    """Chapter 04: per image one scan forward; per image in the grid one forward with autograd
    and ``k + 2 = 4`` backward passes (one engine pass for every map) and 108 masked forwards
    (36 distinct masks x 3 baselines). Which images enter the grid depends on their ``p2``: from
    the experiment's ``table`` if given, else every image (an upper bound)."""
    from whynot.experiments import blurring

    passes = []
    for m, _, n, s in sizes(blurring.PLANS[profile], models, n_images):
        grid = n
        if table is not None:
            mine = table[(table.model == m) & (table.subset != "scanned")]
            grid = mine.image.nunique()
        passes.append(Passes(m, s, forward=n + 108 * grid, gradient=grid, extra_backward=3 * grid))
    return passes


@lru_cache(maxsize=None)
def layer_channels(name: str, layer: str | None) -> int:
    """Channels of a model's CAM ``layer`` (``None``: its default layer), from one forward pass
    of one image; torchvision's architectures on the meta device (shapes only, no weights)."""
    from whynot.explainers.hooks import capture_layer, resolve_layer

    meta = not _is_ours(name)
    with torch.device("meta" if meta else "cpu"):
        model = _architecture(name)
        layer_name, module = resolve_layer(model, layer)
        size = input_size(name)
        with torch.no_grad(), capture_layer(module, layer_name, as_leaf=False) as capture:
            model(torch.zeros(1, 3, size, size))
    return capture.activation.shape[1]


def _is_ours(name: str) -> bool:
    """Whether the model's weights are here (ours, EfficientNet-Lite) rather than downloaded."""
    from whynot.models.small import TRAINED_MODELS

    return name in TRAINED_MODELS or name.startswith("efficientnet_lite")


def _architecture(name: str) -> nn.Module:
    """The model with its weights where they are here (ours, EfficientNet-Lite), else the
    torchvision architecture at random weights."""
    if _is_ours(name):
        from whynot.models.zoo import load_model

        return load_model(name, "cpu")
    from whynot.models import pretrained

    name = "vgg16_bn" if name == "vgg16_bn_cub" else name
    return pretrained.wrap_torchvision(name, pretrained.build_architecture(name)).eval()


#: Masked forward passes of a CAM's second phase per image (``C`` channels, ``G`` groups); the
#: blurred image Group-CAM blends towards is the curves' substrate (both kernel 51, sigma 50).
MASKED_FORWARDS = {"scorecam": lambda c, g: c, "groupcam": lambda c, g: g,
                   "abscam": lambda c, g: c, "abscam_summed": lambda c, g: 1}
#: CAMs whose first phase is the logit's gradient at the layer: one gradient pass serves them all.
LOGIT_GRADIENT = ("gradcam", "gradcam++", "groupcam", "abscam_init", "abscam", "abscam_summed")


def image_passes(model: str, size: int, settings: Sequence[Mapping], channels: int,
                 curves: Sequence[bool], averages: bool = False, samples: int = 8) -> Passes:
    """One image's passes for CAM ``settings`` (dicts with ``method`` and, for Group-CAM,
    ``groups``) at a layer of ``channels``: the clean forward (shared by the prediction, the
    Average Drop baseline and the curves' clean ends), the blurred one if any curve or Group-CAM
    needs it, one logit gradient for every :data:`LOGIT_GRADIENT` method, ``samples`` for
    Smooth GradCAM++, each method's masked forwards, each map's new curve points where
    ``curves[i]``, and with ``averages`` two masked images per map (Average Drop / Increase on
    the whole map and on its top 50 %)."""
    methods = [s["method"] for s in settings]
    forward = 1 + (any(curves) or "groupcam" in methods)
    forward += sum(MASKED_FORWARDS[s["method"]](channels, s.get("groups", 32))
                   for s in settings if s["method"] in MASKED_FORWARDS)
    forward += sum(curves) * curves_forward(size) + 2 * averages * len(settings)
    gradient = (any(m in LOGIT_GRADIENT for m in methods)
                + samples * methods.count("smoothgradcam++"))
    return Passes(model, size, forward=forward, gradient=gradient)


def groupcam_passes(profile: str, models: Sequence[str] | None = None,
                    n_images: int | None = None) -> list[Passes]:
    """Chapter 06: every image by the four methods of Table 1, the first ``ablation`` images
    also by Group-CAM at every other G and theta; each map's deletion and insertion curves. On
    COCO (full profile) every (image, mapped category) by the four methods, without curves."""
    from whynot.experiments import groupcam

    plan, passes = groupcam.PLANS[profile], []
    for m, data, n, s in sizes(plan, models, n_images):
        channels = layer_channels(m, None)
        table1 = groupcam.settings(plan, ablation=False)
        if data == "coco":
            items = round(n * COCO_CATEGORIES_PER_IMAGE)
            one = image_passes(m, s, table1, channels, [False] * len(table1))
            passes.append(one.times(items))
            continue
        ablated = min(n, plan["ablation"].get(m, 0))
        every = groupcam.settings(plan, channels)
        one = image_passes(m, s, table1, channels, [True] * len(table1))
        more = image_passes(m, s, every, channels, [True] * len(every))
        passes.append(one.times(n - ablated) + more.times(ablated))
    return passes


def abscam_passes(profile: str, models: Sequence[str] | None = None,
                  n_images: int | None = None) -> list[Passes]:
    """Chapter 07: every image by the eight methods at the chapter's layer, with Average Drop
    and Increase (whole map and top 50 %) of each, deletion and insertion of each but the summed
    reading (its pixel order is Abs-CAM_init's) and none for the models in ``no_curves``. On
    COCO: every (image, mapped category), no scores."""
    from whynot.experiments import abscam

    plan, passes = abscam.PLANS[profile], []
    for m, data, n, s in sizes(plan, models, n_images):
        channels = layer_channels(m, abscam.LAYERS.get(m))
        methods = [{"method": k} for k in abscam.METHODS]
        if data == "coco":
            items = round(n * COCO_CATEGORIES_PER_IMAGE)
            one = image_passes(m, s, methods, channels, [False] * len(methods))
            passes.append(one.times(items))
            continue
        curves = [m not in plan.get("no_curves", []) and k not in abscam.NO_CURVES
                  for k in abscam.METHODS]
        samples = abscam.METHOD_SETTINGS["smoothgradcam++"]["samples"]
        one = image_passes(m, s, methods, channels, curves, averages=True, samples=samples)
        passes.append(one.times(n))
    return passes


def engine_pass(model: str, size: int, atoms: int) -> Passes:
    """One :func:`whynot.explain` call of gradient CAMs at one layer: one forward with autograd
    and one backward pass per atom of :func:`whynot.targets.decompose` (``k + 2`` for the
    paper's contrasts of the top-k classes), the first backward counted with the forward.

    >>> engine_pass("m", 56, atoms=4)
    Passes(model='m', size=56, forward=0, gradient=1, extra_backward=3)
    """
    return Passes(model, size, gradient=1, extra_backward=atoms - 1)


#: Chapter 03's figure images, as :func:`whynot.experiments.heatmaps.sources` takes them: the
#: smoke profile's prefix of SynthBirds' test split, and the full profile's CUB sample.
SMOKE_FIGURE_BIRDS = 108
CUB_FIGURE_IMAGES = 512


def heatmaps_passes(profile: str, models: Sequence[str] | None = None,
                    n_images: int | None = None) -> list[Passes]:
    """Chapter 03. The figures' statistics on every image of each source (SynthBirds' test
    split with ``synth_vgg``, the photos with EfficientNet-Lite0, in the full profile 512 CUB
    images with VGG16-BN fine-tuned), every image counted as qualifying (``p2``, ``p3 > 0.1``:
    an upper bound): one clean forward (the probabilities, shared), Fig. 4's statistics (logit
    and weighted maps of ``t1, t2``, three methods in one engine pass: atoms ``e_t1, e_t2, p``)
    and Fig. 5's (logit, mean and max of ``t1, t2, t3``: ``e_t1, e_t2, e_t3, 1``); on the
    sources with at least ``MIN_IMAGES`` images (those that judge claims; not the 8 photos),
    Fig. 1's (3 atoms, then 2 maps x 2 contrasts blurred images forward) and Fig. 2's
    (Grad-CAM of ``p_t1`` and ``p_t2`` by plain autograd: a forward and 2 backward passes; the
    engine's weighted maps: 3 atoms). Per source image: ``5 f + 5 g + 10 b`` (``1 f + 2 g +
    5 b`` without Figs. 1, 2). Then the runner's SynthBirds experiments, per image a clean
    forward and one engine pass of 4 atoms, ``1 f + 1 g + 3 b``: ``localization`` (the four
    contrasts of ``t1, t2``: ``e_t1, e_t2, 1, p``) and ``foils`` (logit, weighted, max and
    foil of ``t1``: ``e_t1, p, e_t2, e_t3``). The figures drawn (a few images) are left out."""
    from whynot.data.photos import PHOTO_NAMES
    from whynot.data.synthetic import split_size
    from whynot.experiments import foils, localization

    birds = SMOKE_FIGURE_BIRDS if profile == "smoke" else split_size("test")
    sources = [("synth_vgg", birds), ("efficientnet_lite0", len(PHOTO_NAMES))]
    if profile == "full":
        sources.append(("vgg16_bn_cub", CUB_FIGURE_IMAGES))
    experiments = [*localization.PLANS[profile]["models"], *foils.PLANS[profile]["models"]]
    passes = []
    for m, n in sources:
        s = input_size(m)
        one = Passes(m, s, forward=1) + engine_pass(m, s, 3) + engine_pass(m, s, 4)
        if n >= localization.MIN_IMAGES:  # Figs. 1 and 2
            one = (one + engine_pass(m, s, 3) + Passes(m, s, forward=2 * 2)
                   + Passes(m, s, gradient=1, extra_backward=1) + engine_pass(m, s, 3))
        passes.append((m, n, one))
    for m, n in experiments:
        s = input_size(m)
        passes.append((m, n, Passes(m, s, forward=1) + engine_pass(m, s, 4)))
    return [one.times(n if n_images is None else min(n, n_images)) for m, n, one in passes
            if models is None or m in models]


def vit_passes(profile: str, models: Sequence[str] | None = None,
               n_images: int | None = None) -> list[Passes]:
    """Chapter 05. Per image of the ``vit`` experiment, for the ViT and for the CNN reference on
    the same images: a clean forward (the top two classes) and one engine pass of the five
    contrasts of ``t1, t2``, 4 atoms ``e_t1, e_t2, p, 1`` (the ViT's ``sweep_maps`` serves every
    layer and both rollouts from it): ``1 f + 1 g + 3 b``. Per SynthBirds image of the
    ``dominating`` experiment (the CNNs' map similarities): a clean forward and the logit and
    weighted maps of ``t1``, atoms ``e_t1, p``: ``1 f + 1 g + 1 b``. The figures (SynthBirds
    only, a few images) are left out, and so are chapters 03's and 04's tables, which the
    chapter reads: they count in their chapters."""
    from whynot.experiments import dominating, vit

    plan, passes = vit.PLANS[profile], []
    for m, _, n, _ in sizes(plan, models, n_images):
        for net in (m, plan["cnn"]):  # the CNN reference explains the same images
            size = input_size(net)
            passes.append((Passes(net, size, forward=1) + engine_pass(net, size, 4)).times(n))
    for m, _, n, s in sizes(dominating.PLANS[profile], models, n_images):
        passes.append((Passes(m, s, forward=1) + engine_pass(m, s, 2)).times(n))
    return passes


COUNTERS = {"02": pgd_passes, "03": heatmaps_passes, "04": blurring_passes, "05": vit_passes,
            "06": groupcam_passes, "07": abscam_passes}


def chapter_passes(chapter: str, profile: str, **kwargs) -> list[Passes]:
    """The passes of chapter ``chapter`` (a key of :data:`CHAPTERS`) under ``profile``."""
    if chapter not in COUNTERS:
        raise ValueError(f"no pass count for chapter {chapter!r}; counted: {', '.join(COUNTERS)}")
    return COUNTERS[chapter](profile, **kwargs)


# --- the floor on this machine --------------------------------------------------------------------
#: Images per timed pass: what the chapters forward at once at 56 px, and at 224 px.
TIMING_BATCH = {56: 256, 224: 32}


def time_passes(model: nn.Module, batch: int | None = None, repeats: int = 3) -> dict[str, float]:
    """Seconds per image of one batched no-grad ``forward`` (channels-last, the faster on a
    CPU) and one ``gradient`` pass (forward + backward to the input, parameters frozen), the
    median of ``repeats`` after a warm-up, on random images at the model's input size."""
    size = model.whynot_meta["input_size"]
    batch = batch or TIMING_BATCH.get(size, 32)
    device = next(model.parameters()).device
    images = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device)
    images = images.contiguous(memory_format=torch.channels_last)
    for p in model.parameters():
        p.requires_grad_(False)

    def forward():
        with torch.no_grad():
            model(images)

    def gradient():
        x = images.clone().requires_grad_(True)
        logits = model(x)
        torch.autograd.grad(logits, x, grad_outputs=torch.ones_like(logits))

    seconds = {}
    for name, run in (("forward", forward), ("gradient", gradient)):
        run()
        spans = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            spans.append(time.perf_counter() - start)
        seconds[name] = sorted(spans)[len(spans) // 2] / batch
    return seconds


def floor_seconds(passes: Sequence[Passes], per_image: Mapping[str, Mapping[str, float]]) -> float:
    """:math:`\\sum n_f t_f + n_g t_g + n_b (t_g - t_f)` over ``passes``, with ``per_image[model]``
    from :func:`time_passes`."""
    total = 0.0
    for p in passes:
        t = per_image[p.model]
        total += (p.forward * t["forward"] + p.gradient * t["gradient"]
                  + p.extra_backward * max(t["gradient"] - t["forward"], 0.0))
    return total


def measure_floor(chapter: str, profile: str = "default", repeats: int = 3,
                  **kwargs) -> tuple[float, pd.DataFrame]:
    """``(seconds, table)``: the chapter's floor here, with one row per model (its passes and
    per-image times). Time it right before or after the chapter itself: on a shared machine
    only the ratio of the two means anything."""
    rows, per_image = [], {}
    for p in chapter_passes(chapter, profile, **kwargs):
        if p.model not in per_image:
            per_image[p.model] = time_passes(_architecture(p.model), repeats=repeats)
        rows.append({"model": p.model, "size": p.size, "forward": p.forward,
                     "gradient": p.gradient, "extra_backward": p.extra_backward,
                     **{f"{k} ms": 1e3 * v for k, v in per_image[p.model].items()},
                     "floor s": floor_seconds([p], per_image)})
    table = pd.DataFrame(rows)
    return float(table["floor s"].sum()), table


# --- the Colab estimate of the full profile -------------------------------------------------------
@lru_cache(maxsize=None)
def forward_flops(name: str) -> float:
    """FLOPs of one image's forward pass: torchvision's published count for its models (its
    ``_ops`` are multiply-accumulates, two FLOPs each), else counted on ours."""
    from torch.utils.flop_counter import FlopCounterMode

    if not _is_ours(name):
        from whynot.models import pretrained

        weights = pretrained.default_weights("vgg16_bn" if name == "vgg16_bn_cub" else name)
        return 2e9 * weights.meta["_ops"]
    size = input_size(name)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        _architecture(name)(torch.zeros(1, 3, size, size))
    return float(counter.get_total_flops())


def full_profile_flops(chapter: str) -> float:
    """FLOPs of the chapter's full-profile passes: a backward pass to the input costs about one
    forward pass (no parameter gradients), so a gradient pass counts twice."""
    return sum(forward_flops(p.model) * (p.forward + 2 * p.gradient + p.extra_backward)
               for p in chapter_passes(chapter, "full"))


def colab_estimate(chapter: str, throughput: float = T4_SUSTAINED_FLOPS, width: int = 76) -> str:
    """A paragraph for the chapter's Colab reader (lines of at most ``width``): the full
    profile's passes, their FLOPs, and the hours they take at ``throughput`` FLOPs per second
    (a T4: :data:`T4_SUSTAINED_FLOPS`)."""
    passes = chapter_passes(chapter, "full")
    forward = sum(p.forward for p in passes)
    gradient = sum(p.gradient for p in passes)
    backward = sum(p.extra_backward for p in passes)
    flops = full_profile_flops(chapter)
    hours = flops / throughput / 3600
    models = list(dict.fromkeys(p.model for p in passes))
    bound = f" ({UPPER_BOUNDS[chapter]}: an upper bound)" if chapter in UPPER_BOUNDS else ""
    extra = f" and {backward:,} more backward passes" if backward else ""
    counted = "torchvision's published counts"
    if any(_is_ours(m) for m in models):
        counted = f"{counted}, whynot's own models counted"
    not_counted = f" {NOT_COUNTED[chapter]}" if chapter in NOT_COUNTED else ""
    text = (f"The full profile ({', '.join(models)}) needs {forward:,} image forward passes, "
            f"{gradient:,} forward + backward passes{extra}{bound}: {_flops(flops)}, counted "
            f"from the plan (FLOPs per pass: {counted}; a backward pass "
            f"costs about one forward). At an assumed {throughput / 1e12:g} TFLOPS sustained "
            f"(half a T4's 8.1 TFLOPS float32 peak) that is at least {_duration(hours)} "
            f"on a T4; loading the data, building masked copies and Python add to it."
            f"{not_counted}")
    return textwrap.fill(text, width)


def _flops(flops: float) -> str:
    """PFLOPs, or TFLOPs below one PFLOP (a chapter of minutes would read "0 PFLOPs").

    >>> _flops(2.4e15), _flops(3.96e14)
    ('2 PFLOPs', '396 TFLOPs')
    """
    return f"{flops / 1e15:,.0f} PFLOPs" if flops >= 1e15 else f"{flops / 1e12:,.0f} TFLOPs"


def _duration(hours: float) -> str:
    if hours < 1:
        return f"{max(1, math.ceil(hours * 60))} minutes"
    return f"{hours:.1f} hours" if hours < 48 else f"{hours / 24:.1f} days"


def resume_hint(chapter: str, width: int = 76) -> str:
    """How a Colab user resumes the chapter's experiments and follows their progress (a
    paragraph of lines of at most ``width``). Of several experiments, the first is the one the
    notebook keeps in its ``results`` folder; the others stay in the cache, where ``status
    NAME --profile full`` finds them."""
    names = CHAPTERS[chapter]
    if isinstance(names, str):
        text = (f"A session that dies keeps every finished batch: run the notebook again with "
                f"the same `results` folder (or `python -m whynot.experiments run {names} "
                f"--profile full --out DIR`) and only the missing batches run. `python -m "
                f"whynot.experiments status {names} --out DIR` prints the batches done and, "
                f"from their pace, an ETA.")
        return textwrap.fill(text, width)
    first = names[0]
    text = (f"A session that dies keeps every finished batch of the chapter's experiments "
            f"({', '.join(names)}): run the notebook again with the same `results` folder (or "
            f"`python -m whynot.experiments run {first} --profile full --out DIR`) and only "
            f"the missing batches run. `python -m whynot.experiments status NAME --profile "
            f"full` (`--out DIR` for {first} run there) prints an experiment's batches done "
            f"and, from their pace, an ETA.")
    return textwrap.fill(text, width)
