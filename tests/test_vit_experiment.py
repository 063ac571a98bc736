"""Chapter 05's experiment: the one-pass layer sweep, its rows, summaries and verdicts, the
runner path, and the full profile's plan (vit_b_16 on ImageNet) on random weights."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

import whynot
from whynot.experiments import runner, vit
from whynot.models.zoo import load_model


@pytest.fixture(scope="module")
def model():
    return load_model("synth_vit")


@pytest.fixture(scope="module")
def birds():
    from whynot.data.synthetic import load_synthbirds

    return load_synthbirds("test", n=6)


def test_sweep_equals_one_explain_call_per_layer(model, birds):
    images = birds.images[:3]
    classes = model(images).topk(2).indices
    maps = vit.sweep_maps(model, images, classes)
    layers = vit.sweep_layers(model)
    assert list(layers) == ["block 0", "block 1", "block 2", "block 3", "block 3 norm1"]
    for label, name in layers.items():
        expected = whynot.explain(model, images, layer=name, classes=classes, contrast=vit.CONTRASTS)
        for contrast in vit.CONTRASTS:
            torch.testing.assert_close(maps[f"GradCAM {label}"][contrast], expected[contrast], atol=1e-6, rtol=1e-5)
    for method, name in ((vit.ROLLOUT, "rollout"), (vit.PLAIN_ROLLOUT, "attention_rollout")):
        expected = whynot.explain(model, images, method=name, classes=classes, contrast=vit.CONTRASTS)
        for contrast in vit.CONTRASTS:
            torch.testing.assert_close(maps[method][contrast], expected[contrast], atol=1e-6, rtol=1e-5)


def test_correlations_are_one_for_the_logit_and_minus_one_for_a_negated_map():
    logit = torch.randn(3, 2, 5, 5, generator=torch.Generator().manual_seed(0))
    maps = {"m": {"logit": logit, "max": torch.stack([logit[:, 0], -logit[:, 0]], dim=1)}}
    rows = vit.correlation_rows(maps, start=10).set_index(["contrast", "rank", "image"])
    assert np.allclose(rows.loc["logit"].corr_own, 1.0)
    assert np.allclose(rows.loc[("max", 2)].corr_top, -1.0) and np.allclose(rows.loc[("max", 1)].corr_own, 1.0)
    assert rows.index.get_level_values("image").min() == 10


def test_runner_rows_cover_every_method_contrast_and_rank(tmp_path):
    experiment = vit.experiment("smoke", n_images=4)
    table = runner.run(experiment, out=tmp_path, progress=False)
    methods = set(table[table.model == "vit"].method)
    assert methods == {f"GradCAM {label}" for label in vit.sweep_layers(load_model("synth_vit"))} | {
        vit.ROLLOUT, vit.PLAIN_ROLLOUT}
    assert set(table[table.model == "cnn"].method) == {vit.CNN_METHOD}
    assert len(table) == 4 * (len(methods) + 1) * len(vit.CONTRASTS) * 2
    logit = table[table.contrast == "logit"].corr_own.dropna()
    assert np.allclose(logit, 1.0)
    assert table[table.method == "GradCAM block 3"].corr_own.isna().all()  # zero maps: no correlation
    again = runner.run(experiment, out=tmp_path, progress=False)
    pd.testing.assert_frame_equal(again, table)


def synthetic_table(n: int = 40, seed: int = 0) -> pd.DataFrame:
    """Rows with a known truth: rollout on the part, GradCAM uniform; weighted maps correlate with
    the logit map as p1 - p2 (rank 1)."""
    rng = np.random.default_rng(seed)
    gap = np.linspace(0.05, 0.95, n)
    rows = []
    for image in range(n):
        p1 = 0.5 + gap[image] / 2
        base = dict(image=image, p1=p1, p2=p1 - gap[image], part="tail", part_pixels=50, part_share=0.1,
                    hit_zone_share=0.2, label=0, t1=0, t2=1)
        for model, methods in (("vit", ["GradCAM block 0", "GradCAM block 1", "GradCAM block 2",
                                        "GradCAM block 3 norm1", vit.ROLLOUT]), ("cnn", [vit.CNN_METHOD])):
            for method in methods:
                for contrast in vit.CONTRASTS:
                    for rank in (1, 2):
                        mass = 0.5 if method == vit.ROLLOUT else 0.1 + rng.normal(0, 0.01)
                        corr = 1.0 if contrast == "logit" else (gap[image] if model == "vit" else 0.0)
                        rows.append(dict(base, model=model, method=method, contrast=contrast, rank=rank,
                                         mass=mass, hit=1.0, corr_own=corr,
                                         corr_top=-gap[image] if rank == 2 else corr))
    return pd.DataFrame(rows)


def test_verdicts_read_a_table_with_a_known_truth():
    found = vit.verdicts(synthetic_table()).set_index("claim").verdict
    assert found["rollout (weighted) puts more mass on the differing part than a uniform map"] == "holds"
    assert found["GradCAM block 1 (weighted) puts more mass on the differing part than a uniform map"] == "not resolved"
    assert found["rollout localizes better than GradCAM block 2 (weighted)"] == "holds"
    assert found["GradCAM block 3 norm1: t1's weighted map follows its logit map more as p1 - p2 grows"] == "holds"
    assert found["rollout: t2's weighted map follows -(t1's logit map) more as p1 - p2 grows"] == "holds"
    little = "GradCAM block 3 norm1: little effect of the weighted contrast (correlation with the logit map above 0.9)"
    assert found[little] == "does not hold"
    assert found["GradCAM block 3 norm1: less effect of the weighted contrast than on the CNN's GradCAM"] == "holds"


def test_gap_table_bins_and_rank_correlation():
    table = synthetic_table()
    bins = vit.gap_table(table, ["GradCAM block 3 norm1"])
    assert bins.images.sum() == 40 and list(bins.gap) == sorted(bins.gap, key=lambda g: float(g.split(",")[0][1:]))
    assert bins["t1 vs own logit"].is_monotonic_increasing
    estimate, low, high = vit.rank_correlation(pd.Series(np.arange(10.0)), pd.Series(np.arange(10.0) ** 3))
    assert estimate == pytest.approx(1.0) and low == pytest.approx(1.0)
    assert all(math.isnan(v) for v in vit.rank_correlation(pd.Series([1.0]), pd.Series([2.0])))


def test_full_plan_is_vit_b_16_on_imagenet_and_runs_without_part_masks():
    experiment = vit.experiment("full")
    assert [tuple(m) for m in experiment.config["models"]] == [("vit_b_16", "imagenet", 5000)]
    assert experiment.config["cnn"] == "vgg16_bn" and len(experiment.batches) == math.ceil(5000 / 16)
    # The ImageNet path (no part masks) on a small torchvision ViT with random weights.
    from torchvision.models.vision_transformer import VisionTransformer

    from whynot.models.common import NormalizedModel

    torch.manual_seed(0)
    net = VisionTransformer(image_size=32, patch_size=8, num_layers=3, num_heads=2, hidden_dim=16, mlp_dim=32,
                            num_classes=6)
    torch.nn.init.normal_(net.heads.head.weight)
    model = NormalizedModel(net, (0.5,) * 3, (0.25,) * 3, {"name": "tiny"}).eval()
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    table = vit.vit_table(model, images, start=5)
    assert set(table.image) == {5, 6, 7} and "mass" not in table.columns
    assert set(table.method) >= {"GradCAM block 1", "GradCAM block 2 norm1", vit.ROLLOUT}
    assert (table.p1 >= table.p2).all()


def test_explorer_views_cover_every_combination(model, birds):
    views, controls = vit.explorer_views(model, birds.images[:2], size=56)
    assert len(views) == 2 * len(controls["method"]) * len(vit.CONTRASTS)
    assert views[("bird 0", vit.ROLLOUT, "logit")].shape == (56, 56, 3)
