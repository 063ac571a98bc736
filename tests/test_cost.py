"""The pass counter and the Colab estimate (whynot.experiments.cost), hand-counted, and the
sped-up chapter-02 path against the loop it replaced."""
from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from torch import nn

from whynot.experiments import cost, pgd


def test_curve_points_by_hand():
    # 56 px: 3136 pixels, steps of 32 -> 0, 32, ..., 3136: 99 points; 224 px: steps of 502 ->
    # 0, ..., 49698 and 50176 (clamped): 101 points.
    assert cost.curve_points(56) == 99 and cost.curve_points(224) == 101
    assert cost.curves_forward(56) == 2 * 97


def test_pgd_passes_hand_counted_on_the_smoke_plan():
    # synth_vgg, 8 images: 1 clean + 2 eps x 3 iteration counts x 4 contrasts perturbed images;
    # 4 contrasts x (1 shared first step + 2 eps x (0 + 1 + 9) further iterations) = 84 gradient
    # passes, not 4 x 2 x (1 + 2 + 10) = 104.
    vgg, lite = cost.chapter_passes("02", "smoke")
    assert (vgg.model, vgg.size, vgg.forward, vgg.gradient) == ("synth_vgg", 56, 8 * 25, 8 * 84)
    assert (lite.model, lite.size) == ("efficientnet_lite0", 224)
    assert (lite.forward, lite.gradient) == (25, 84)
    (only,) = cost.chapter_passes("02", "default", models=["synth_mobile"], n_images=3)
    assert (only.forward, only.gradient) == (75, 252)


def test_cam_image_passes_hand_counted():
    settings = [{"method": "gradcam"}, {"method": "scorecam"}, {"method": "groupcam", "groups": 4}]
    one = cost.image_passes("m", 56, settings, channels=8, curves=[True, True, True])
    # clean + blurred (curves and Group-CAM share it) + 8 channel masks + 4 group masks
    # + 3 maps x 2 curves x 97 new points; one logit gradient for GradCAM and Group-CAM
    assert (one.forward, one.gradient) == (1 + 1 + 8 + 4 + 3 * 194, 1)
    plain = cost.image_passes("m", 56, [{"method": "gradcam"}, {"method": "smoothgradcam++"}],
                              channels=8, curves=[False, False], averages=True, samples=3)
    assert (plain.forward, plain.gradient) == (1 + 2 * 2, 1 + 3)


def test_blurring_counts_the_grid_from_the_table():
    table = pd.DataFrame({"model": "synth_vgg", "image": [0, 0, 1, 1, 2, 2],
                          "subset": ["above", "above", "scanned", "scanned", "below", "below"]})
    (passes,) = cost.chapter_passes("04", "smoke", n_images=3, table=table)
    assert (passes.forward, passes.gradient, passes.extra_backward) == (3 + 2 * 108, 2, 6)


def test_floor_seconds_by_hand():
    passes = [cost.Passes("a", 56, forward=10, gradient=2, extra_backward=3)]
    per_image = {"a": {"forward": 0.5, "gradient": 2.0}}
    assert cost.floor_seconds(passes, per_image) == 10 * 0.5 + 2 * 2.0 + 3 * 1.5


def test_colab_estimate_of_chapter_04_by_hand():
    # 5794 CUB images: 1 scan + 108 masked forwards each, 1 gradient pass and 3 more backward
    # passes; vgg16_bn: 15.47 GMACs = 30.94 GFLOPs per forward; a backward counts as a forward.
    flops = 30.94e9 * (5794 * 109 + 2 * 5794 + 3 * 5794)
    assert cost.full_profile_flops("04") == pytest.approx(flops, rel=1e-3)
    text = cost.colab_estimate("04")
    assert max(len(line) for line in text.splitlines()) <= 76
    sentence = " ".join(text.split())
    assert "631,546 image forward passes, 5,794 forward + backward passes" in sentence
    assert f"{flops / 4e12 / 3600:.1f} hours" in sentence and "T4" in sentence
    with pytest.raises(ValueError, match="no pass count for chapter '99'"):
        cost.chapter_passes("99", "full")


def counts(passes):
    return [(p.model, p.size, p.forward, p.gradient, p.extra_backward) for p in passes]


# Chapter 03, per image of a figure source that judges claims: forwards 1 clean + 2 maps x 2
# contrasts blurred (Fig. 1); gradient passes Fig. 4, Fig. 5, Fig. 1, Fig. 2 by autograd and
# Fig. 2 by the engine; more backward passes 2 (Fig. 4: e_t1, e_t2, p) + 3 (Fig. 5: e_t1..e_t3,
# ones) + 2 (Fig. 1: e_t1, e_t2, p) + 1 (p_t1 then p_t2) + 2 (weighted: e_t1, e_t2, p).
FIGURES = (1 + 4, 5, 2 + 3 + 2 + 1 + 2)
PHOTOS = (8, 8 * 2, 8 * (2 + 3))  # 8 photos: too few to judge, Figs. 4 and 5 only
# localization (4 contrasts of t1, t2: e_t1, e_t2, ones, p) and foils (logit, weighted, max,
# foil of t1: e_t1, p, e_t2, e_t3): a clean forward and 4 atoms per image, on 3 CNNs
SYNTH_CNNS = ["synth_vgg", "synth_resnet", "synth_mobile"]


def test_heatmaps_passes_hand_counted_on_the_smoke_and_full_plans():
    experiments = [(m, 56, n, n, 3 * n) for n in [108] for m in SYNTH_CNNS] * 2
    smoke = [("synth_vgg", 56, *(108 * k for k in FIGURES)),
             ("efficientnet_lite0", 224, *PHOTOS)]
    assert counts(cost.chapter_passes("03", "smoke")) == smoke + experiments
    experiments = [(m, 56, n, n, 3 * n) for n in [1080] for m in SYNTH_CNNS] * 2
    full = [("synth_vgg", 56, *(1080 * k for k in FIGURES)), ("efficientnet_lite0", 224, *PHOTOS),
            ("vgg16_bn_cub", 224, *(512 * k for k in FIGURES))]
    assert counts(cost.chapter_passes("03", "full")) == full + experiments
    only = cost.chapter_passes("03", "full", models=["vgg16_bn_cub"], n_images=3)
    assert counts(only) == [("vgg16_bn_cub", 224, 15, 15, 30)]


def test_the_cub_figures_draw_the_images_counted():
    import inspect

    from whynot.experiments import heatmaps

    default = inspect.signature(heatmaps.cub_source).parameters["n"].default
    assert cost.CUB_FIGURE_IMAGES == default == 512


def test_vit_passes_hand_counted_on_the_smoke_and_full_plans():
    # vit: the ViT and the CNN reference, a clean forward and one engine pass of the five
    # contrasts of t1, t2 (e_t1, e_t2, p, ones) per image; dominating: a clean forward and the
    # logit and weighted maps of t1 (e_t1, p) on every CNN
    smoke = [("synth_vit", 56, 27, 27, 81), ("synth_vgg", 56, 27, 27, 81),
             *((m, 56, 54, 54, 54) for m in SYNTH_CNNS)]
    assert counts(cost.chapter_passes("05", "smoke")) == smoke
    full = [("vit_b_16", 224, 5000, 5000, 15000), ("vgg16_bn", 224, 5000, 5000, 15000),
            *((m, 56, 1080, 1080, 1080) for m in SYNTH_CNNS)]
    assert counts(cost.chapter_passes("05", "full")) == full
    only = cost.chapter_passes("05", "default", models=["synth_vit"], n_images=10)
    assert counts(only) == [("synth_vit", 56, 10, 10, 30), ("synth_vgg", 56, 10, 10, 30)]


def test_colab_estimates_of_chapters_03_and_05_by_hand():
    ours = {m: cost.forward_flops(m) for m in [*SYNTH_CNNS, "efficientnet_lite0"]}
    # a pass's cost in forwards: f + 2 g + b; vgg16_bn: 15.47 GMACs, vit_b_16: 17.564 GMACs
    per_figure_image = FIGURES[0] + 2 * FIGURES[1] + FIGURES[2]
    flops03 = (1080 * per_figure_image * ours["synth_vgg"]
               + (PHOTOS[0] + 2 * PHOTOS[1] + PHOTOS[2]) * ours["efficientnet_lite0"]
               + 512 * per_figure_image * 30.94e9
               + 2 * 1080 * (1 + 2 + 3) * sum(ours[m] for m in SYNTH_CNNS))
    assert cost.full_profile_flops("03") == pytest.approx(flops03, rel=1e-3)
    flops05 = (5000 * (1 + 2 + 3) * (35.128e9 + 30.94e9)
               + 1080 * (1 + 2 + 1) * sum(ours[m] for m in SYNTH_CNNS))
    assert cost.full_profile_flops("05") == pytest.approx(flops05, rel=1e-3)
    for chapter, flops, passes in [
            ("03", flops03, "14,448 image forward passes, 14,456 forward + backward passes and "
                            "35,400 more backward passes (every image counted as having p2"),
            ("05", flops05, "13,240 image forward passes, 13,240 forward + backward passes and "
                            f"33,240 more backward passes: {flops05 / 1e15:.0f} PFLOPs")]:
        text = cost.colab_estimate(chapter)
        assert max(len(line) for line in text.splitlines()) <= 76
        sentence = " ".join(text.split())
        assert passes in sentence
        assert f"at least {math.ceil(flops / 4e12 / 60)} minutes on a T4" in sentence
    assert f"{flops03 / 1e12:.0f} TFLOPs" in " ".join(cost.colab_estimate("03").split())
    assert "from the cache" in cost.colab_estimate("05")


def test_resume_hints_name_every_experiment_of_the_chapter():
    for chapter, first, names in [("03", "localization", "localization, foils"),
                                  ("05", "vit", "vit, dominating")]:
        text = cost.resume_hint(chapter)
        assert max(len(line) for line in text.splitlines()) <= 76
        sentence = " ".join(text.split())
        assert f"experiments ({names})" in sentence
        assert f"run {first} --profile full --out DIR" in sentence
        assert "status NAME --profile full" in sentence
    sentence = " ".join(cost.resume_hint("02").split())
    assert ("(or `python -m whynot.experiments run pgd --profile full --out DIR`) and only the "
            "missing batches run. `python -m whynot.experiments status pgd --out DIR`") in sentence


class Tiny(nn.Module):
    """A small classifier that counts the images it sees, with and without autograd."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                                 nn.Flatten(), nn.Linear(16, 5))
        self.seen = {"forward": 0, "gradient": 0}

    def forward(self, x):
        self.seen["gradient" if torch.is_grad_enabled() else "forward"] += x.shape[0]
        return self.net(x)


def reference_perturb(model, images, targets, eps, steps):
    """Chapter 02's perturbation as it was before the passes were shared: one eps at a time."""
    from whynot.targets import cotangents

    batch, copies = images.shape[0], len(pgd.CONTRASTS)
    lower = (images - eps).clamp(min=0).repeat(copies, 1, 1, 1)
    upper = (images + eps).clamp(max=1).repeat(copies, 1, 1, 1)
    x = images.repeat(copies, 1, 1, 1)
    for _ in range(steps):
        x.requires_grad_(True)
        logits = model(x)
        values = logits.detach().split(batch)
        v = torch.cat([cotangents(y, targets[:, None], c)[:, 0]
                       for y, c in zip(values, pgd.CONTRASTS)])
        (gradient,) = torch.autograd.grad(logits, x, grad_outputs=v)
        x = torch.minimum(torch.maximum(x.detach() + eps / steps * gradient.sign(), lower), upper)
    return dict(zip(pgd.CONTRASTS, x.split(batch)))


def test_pgd_runs_exactly_the_passes_counted_and_the_old_loop_numbers():
    model = Tiny().eval()
    images = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    targets = torch.tensor([0, 3, 4])
    table = pgd.perturbation_table(model, images, targets)
    per_image = cost.pgd_passes("smoke", models=["synth_vgg"], n_images=1)[0]
    assert model.seen == {"forward": 3 * per_image.forward, "gradient": 3 * per_image.gradient}

    # the reference: one trajectory per (eps, iterations), one forward per contrast
    rows = []
    for eps in pgd.EPSILONS:
        for steps in pgd.ITERATIONS:
            for contrast, adversary in reference_perturb(model, images, targets, eps,
                                                         steps).items():
                after = pgd.target_scores(model, adversary, targets)
                rows.append(pd.DataFrame({"eps": eps, "iterations": steps, "contrast": contrast,
                                          **{f"{k}_after": v.numpy() for k, v in after.items()}}))
    reference = pd.concat(rows, ignore_index=True)
    pd.testing.assert_frame_equal(table[reference.columns], reference, check_exact=True)
