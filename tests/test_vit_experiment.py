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
            torch.testing.assert_close(maps[f"Grad-CAM {label}"][contrast], expected[contrast], atol=1e-6, rtol=1e-5)
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
    assert methods == {f"Grad-CAM {label}" for label in vit.sweep_layers(load_model("synth_vit"))} | {
        vit.ROLLOUT, vit.PLAIN_ROLLOUT}
    assert set(table[table.model == "cnn"].method) == {vit.CNN_METHOD}
    assert len(table) == 4 * (len(methods) + 1) * len(vit.CONTRASTS) * 2
    logit = table[table.contrast == "logit"].corr_own.dropna()
    assert np.allclose(logit, 1.0)
    assert table[table.method == "Grad-CAM block 3"].corr_own.isna().all()  # zero maps: no correlation
    again = runner.run(experiment, out=tmp_path, progress=False)
    pd.testing.assert_frame_equal(again, table)


#: Part mass of t1's logit maps per ViT method in :func:`synthetic_table` (NaN: zero maps).
MASS = {"Grad-CAM block 0": 0.3, "Grad-CAM block 1": 0.1, "Grad-CAM block 2": 0.05,
        "Grad-CAM block 3": float("nan"), "Grad-CAM block 3 norm1": 0.08, vit.ROLLOUT: 0.5}


def synthetic_table(n: int = 40) -> pd.DataFrame:
    """Rows with a known truth: the uniform map's part share is 0.1, so block 0 and rollout beat
    it, blocks 1 (a tie) and the rest do not; the contrasts do not move a ViT map's mass but move
    the CNN's from 0.1 to 0.4; contrast maps correlate with the logit map as 1 - p2."""
    gap = np.linspace(0.05, 0.95, n)
    rows = []
    for image in range(n):
        p1 = 0.5 + gap[image] / 2
        base = dict(image=image, p1=p1, p2=p1 - gap[image], part="tail", part_pixels=50, part_share=0.1,
                    hit_zone_share=0.2, label=0, t1=0, t2=1, vit="synth_vit")
        for model, methods in (("vit", list(MASS)), ("cnn", [vit.CNN_METHOD])):
            for method in methods:
                for contrast in vit.CONTRASTS:
                    for rank in (1, 2):
                        mass = MASS[method] if model == "vit" else 0.4 if contrast == "weighted" else 0.1
                        corr = 1.0 if contrast == "logit" else 1 - base["p2"]
                        if method == "Grad-CAM block 3":
                            corr = float("nan")
                        rows.append(dict(base, model=model, method=method, contrast=contrast, rank=rank,
                                         mass=mass, hit=1.0, corr_own=corr,
                                         corr_top=-gap[image] if rank == 2 else corr))
    return pd.DataFrame(rows)


def test_settings_read_a_table_with_a_known_truth():
    found = vit.settings(synthetic_table())
    layers = found[found.claim == "reports-vit-most-layers-bad"].set_index("setting")
    assert layers.verdict.to_dict() == {
        "Grad-CAM block 0": "holds", "Grad-CAM block 1": "not resolved", "Grad-CAM block 2": "does not hold",
        "Grad-CAM block 3": "does not hold", "Grad-CAM block 3 norm1": "does not hold"}
    assert layers.estimate["Grad-CAM block 3"] == pytest.approx(-0.1)  # zero maps count as no mass
    best = found[found.claim == "reports-vit-best-block"]
    assert best.setting.tolist() == ["Grad-CAM block 0 vs Grad-CAM block 1",
                                     "Grad-CAM block 0 vs Grad-CAM block 3 norm1"]
    assert best.estimate.tolist() == pytest.approx([0.2, 0.22])
    softmax = found[found.claim == "reports-vit-gradcam-softmax"]
    assert "Grad-CAM block 3" not in set(softmax.setting) and set(softmax.verdict) == {"does not hold"}
    gap = found[found.claim == "reports-vit-no-visual-difference"]
    assert gap.verdict.tolist() == ["holds", "holds", "holds"]
    assert gap.estimate.iloc[0] == pytest.approx(1.0) and gap.estimate.iloc[1] == pytest.approx(-1.0)
    transfer = found[found.claim == "reports-vit-not-transferable"].iloc[0]
    assert transfer.estimate == pytest.approx(-0.3) and transfer.verdict == "holds"


def test_claim_records_cover_the_chapter_and_combine_settings():
    from whynot.claims import claims_of

    records = {r.claim: r for r in vit.claim_records(vit.settings(synthetic_table()))}
    assert set(records) == {c.id for c in claims_of("05_vision_transformers")} - {"reports-dominating"}
    layers = records["reports-vit-most-layers-bad"]
    # 1 of 5 layers beats the uniform map, 1 is not resolved: the share lies in [0.2, 0.4] < 1/2
    assert (layers.effect, layers.low, layers.high, layers.verdict) == (0.2, 0.2, 0.4, "holds")
    assert layers.unit == "layers" and layers.n == 5
    assert {c: r.verdict for c, r in records.items() if c != "reports-vit-most-layers-bad"} == {
        "reports-vit-best-block": "holds", "reports-vit-rollout-localizes": "holds",
        "reports-vit-gradcam-softmax": "does not hold", "reports-vit-rollout-softmax": "does not hold",
        "reports-vit-no-visual-difference": "holds", "reports-vit-not-transferable": "holds"}
    assert records["reports-vit-best-block"].effect == pytest.approx(0.2)


def test_without_part_masks_the_localization_claims_are_not_tested():
    table = synthetic_table().drop(columns=["mass", "hit", "part", "part_pixels", "part_share"])
    records = {r.claim: r.verdict for r in vit.claim_records(vit.settings(table))}
    assert {c for c, v in records.items() if v == "not tested"} == set(vit.NEED_PARTS)


def test_a_run_without_close_images_leaves_the_softmax_claims_unresolved():
    # Found by the rehearsal (whynot.rehearsal): a short ImageNet run where p2 <= 0.1 everywhere.
    table = synthetic_table().drop(columns=["mass", "hit", "part", "part_pixels", "part_share"])
    table = table.assign(p2=0.05)
    records = {r.claim: r for r in vit.claim_records(vit.settings(table))}
    assert {c for c, r in records.items() if r.verdict == "not resolved"} >= set(vit.NEED_CLOSE)
    assert "p2 > 0.1" in records["reports-vit-gradcam-softmax"].why
    effects = vit.effect_table(table)
    assert effects.empty and "corr" in effects  # the notebook pivots on it


def test_gap_table_bins_and_the_dominating_frames_of_the_vit():
    from whynot.experiments import dominating

    table = synthetic_table()
    bins = vit.gap_table(table, ["Grad-CAM block 3 norm1"])
    assert bins.images.sum() == 40 and list(bins.gap) == sorted(bins.gap, key=lambda g: float(g.split(",")[0][1:]))
    assert bins["t1 vs own logit"].is_monotonic_increasing
    frames = dominating.from_vit_table(table, ["Grad-CAM block 3 norm1", vit.ROLLOUT])
    assert set(frames["similarity"].model) == {"synth_vit"} and len(frames["similarity"]) == 40
    assert frames["localization"].value.abs().max() == 0  # the contrasts do not move the ViT's mass


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
    assert set(table.method) >= {"Grad-CAM block 1", "Grad-CAM block 2 norm1", vit.ROLLOUT}
    assert (table.p1 >= table.p2).all()


def test_explorer_views_cover_every_combination(model, birds):
    views, controls = vit.explorer_views(model, birds.images[:2], size=56)
    assert len(views) == 2 * len(controls["method"]) * len(vit.CONTRASTS)
    assert views[("bird 0", vit.ROLLOUT, "logit")].shape == (56, 56, 3)
