"""Blurring and masking (whynot.experiments.blurring, paper Table 1): the masking rules by hand,
the relative probability of masked images by hand, the batched grid against a plain loop, the
runner (resume, shards), the full profile on the fake CUB archive, the analysis, bad input.

Rules under test, for a signed map phi and s = +1 (positive features kept) or -1 (negative kept):
plain masking replaces the pixels with s phi < 0; equal blurring replaces in both the original
and the weighted map the n = min(n_original, n_weighted) pixels of lowest s phi, ties broken by
the flat pixel index (the lower index replaced first).
"""
from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import whynot
from test_explainers import random_images, single_thread, tiny_cnn  # noqa: F401
from whynot.baselines import gaussian_blur
from whynot.experiments import blurring, runner
from whynot.experiments.blurring import (equal_keep, masked_pair_logits, masking_table,
                                         plain_keep, rank_keep, replaced_count)


def grid(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


# --- which pixels are replaced, by hand on 2 x 2 maps (flat pixel order 0 1 / 2 3) --------------
ORIGINAL = grid([[0.5, -1.0], [0.0, -0.2]])  # negatives at 1, 3; a zero at 2; one positive at 0


def test_plain_masking_replaces_the_other_sign_and_keeps_zeros():
    assert plain_keep(ORIGINAL, "positive").tolist() == [[True, False], [True, False]]
    assert plain_keep(ORIGINAL, "negative").tolist() == [[False, True], [True, True]]
    assert replaced_count(ORIGINAL, "positive").item() == 2
    assert replaced_count(ORIGINAL, "negative").item() == 1


def test_equal_blurring_uses_the_smaller_count_and_breaks_ties_by_pixel_index():
    # weighted: three negatives, all -0.3 (a three-way tie); n = min(2, 3) = 2
    weighted = grid([[-0.3, 0.2], [-0.3, -0.3]])
    keep_original, keep_weighted = equal_keep(ORIGINAL, weighted, "positive")
    assert keep_original.tolist() == [[True, False], [True, False]]  # its plain mask
    assert keep_weighted.tolist() == [[False, True], [False, True]]  # pixels 0 and 2, not 3
    assert (~keep_original).sum() == (~keep_weighted).sum() == 2


def test_equal_blurring_of_negative_features_replaces_the_highest_values():
    # original has one positive pixel; weighted three tied at 0.7 -> n = 1: its pixel 0 only
    weighted = grid([[0.7, 0.7], [0.7, -0.1]])
    keep_original, keep_weighted = equal_keep(ORIGINAL, weighted, "negative")
    assert keep_original.tolist() == [[False, True], [True, True]]
    assert keep_weighted.tolist() == [[False, True], [True, True]]
    # swapped roles give the same masks: the rule is symmetric in the two maps
    swapped = equal_keep(weighted, ORIGINAL, "negative")
    assert torch.equal(swapped[0], keep_weighted) and torch.equal(swapped[1], keep_original)


def test_the_map_with_the_smaller_set_keeps_its_plain_mask_and_every_replaced_pixel_is_its_own():
    generator = torch.Generator().manual_seed(0)
    original, weighted = torch.randn(2, 50, 6, 6, generator=generator, dtype=torch.float64)
    for kept in ("positive", "negative"):
        keeps = equal_keep(original, weighted, kept)
        counts = torch.stack([replaced_count(m, kept) for m in (original, weighted)])
        assert (counts[0] < counts[1]).any() and (counts[0] > counts[1]).any()  # both cases
        for i, (m, keep) in enumerate(zip((original, weighted), keeps)):
            smaller = counts[i] <= counts[1 - i]
            assert torch.equal(keep[smaller], plain_keep(m, kept)[smaller])
            assert not (~keep & plain_keep(m, kept)).any()  # only pixels of its own set
        assert torch.equal((~keeps[0]).sum((-2, -1)), (~keeps[1]).sum((-2, -1)))


def test_rank_keep_counts_and_rejects_impossible_counts():
    keep = rank_keep(ORIGINAL, "positive", 3)  # the three lowest: -1.0, -0.2, 0.0
    assert keep.tolist() == [[True, False], [False, False]]
    assert rank_keep(ORIGINAL, "negative", 0).all() and not rank_keep(ORIGINAL, "negative", 4).any()
    with pytest.raises(ValueError, match="count must be in"):
        rank_keep(ORIGINAL, "positive", 5)


# --- the relative probability of a masked 4-pixel image, by hand ------------------------------
def test_relative_probability_of_masked_images_by_hand():
    """y_0 = sum of channel 0, y_1 = sum of channel 1, y_2 = 0, on a 2 x 2 image."""
    weight = torch.zeros(3, 12, dtype=torch.float64)
    weight[0, 0:4], weight[1, 4:8] = 1.0, 1.0
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3, bias=False, dtype=torch.float64)).eval()
    with torch.no_grad():
        model[1].weight.copy_(weight)
    image = torch.stack([grid([[1, 2], [3, 4]]), grid([[4, 3], [2, 1]]), grid([[9, 9], [9, 9]])])
    keep = torch.tensor([[[True, False], [True, False]],  # keep pixels 0 and 2
                         [[True, True], [True, True]]])  # nothing replaced
    fills = torch.stack([torch.zeros(3, 2, 2, dtype=torch.float64),
                         torch.full((3, 2, 2), 0.5, dtype=torch.float64)])
    pair = torch.tensor([[0, 1]])
    logits = masked_pair_logits(model, image[None], keep[None], fills[None], pair, chunk_size=3)
    # zeros: y = (1 + 3, 4 + 2); half: y = (1 + 3 + 1, 4 + 2 + 1); unmasked: (10, 10) twice
    expected = grid([[[4, 6], [5, 7]], [[10, 10], [10, 10]]])
    torch.testing.assert_close(logits[0], expected, rtol=0, atol=1e-12)
    r = whynot.metrics.relative_probability(logits, torch.tensor([0, 1]).expand_as(logits))
    assert r[0, 0, 0, 0].item() == pytest.approx(1 / (1 + math.e**2), abs=1e-12)
    assert r[0, 1, 1].tolist() == [0.5, 0.5]


def test_chunks_hold_about_a_million_pixels_on_a_cpu():
    assert blurring.default_chunk_size(torch.zeros(1, 3, 56, 56)) == 334
    assert blurring.default_chunk_size(torch.zeros(1, 3, 224, 224)) == 20
    assert blurring.default_chunk_size(torch.zeros(1, 3, 2048, 2048)) == 1


# --- the batched grid equals a plain loop over images, maps and masks ------------------------
def blur(images, model):
    return gaussian_blur(images, 3, 1.0)


BASELINES = {"blur": blur,
             "zeros": lambda images, model: torch.full_like(images, 0.5),
             "mean": lambda images, model: images.mean(dim=(-2, -1), keepdim=True).expand_as(images)}


def naive_keep(values: list[float], kept: str, count: int | None) -> list[bool]:
    """Plain (count None): replace s phi < 0. Equal: replace the `count` lowest (s phi, index)."""
    s = 1 if kept == "positive" else -1
    if count is None:
        return [s * v >= 0 for v in values]
    replaced = sorted(range(len(values)), key=lambda j: (s * values[j], j))[:count]
    return [j not in replaced for j in range(len(values))]


def naive_table(model, images, methods) -> dict[tuple, float]:
    """(image, variant, baseline, method, contrast, target, kept) -> r, one mask at a time."""
    out = {}
    for b, image in enumerate(images):
        with torch.no_grad():
            pair = model(image[None])[0].topk(2).indices
        for method in methods:
            for k, target in enumerate(("t1", "t2")):
                maps = {c: whynot.explain(model, image[None], method=method, classes=pair[None],
                                          contrast=c)[0, k].flatten().tolist()
                        for c in ("logit", "weighted")}
                for kept in ("positive", "negative"):
                    s = 1 if kept == "positive" else -1
                    n = min(sum(s * v < 0 for v in m) for m in maps.values())
                    for contrast, values in maps.items():
                        for variant, count in (("plain", None), ("equal", n)):
                            keep = torch.tensor(naive_keep(values, kept, count)).view(image.shape[1:])
                            for name, baseline in BASELINES.items():
                                fill = baseline(image[None], model)[0]
                                masked = torch.where(keep, image, fill)
                                with torch.no_grad():
                                    y = model(masked[None])[0]
                                r = torch.exp(y[pair[k]]) / torch.exp(y[pair]).sum()
                                out[(b, variant, name, method, contrast, target, kept)] = r.item()
    return out


def test_batched_grid_equals_one_image_and_one_mask_at_a_time():
    model = tiny_cnn(seed=3)
    images = random_images(batch=3, size=8, seed=4)
    methods = ("gradcam", "la", "xgradcam")
    table = masking_table(model, images, methods=methods, baselines=BASELINES, chunk_size=7)
    assert len(table) == 3 * 2 * 3 * 3 * 2 * 2 * 2
    assert not table.duplicated(["image", *blurring.CONDITIONS]).any()
    expected = naive_table(model, images, methods)
    ours = table.set_index(["image", *blurring.CONDITIONS]).r
    assert set(ours.index) == set(expected)
    for key, value in expected.items():
        assert ours[key] == pytest.approx(value, abs=1e-10), key
    # the comparison could fail: original and weighted, plain and equal really differ here
    pivot = table.pivot_table(index=["image", "variant", "baseline", "method", "target", "kept"],
                              columns="contrast", values="r", observed=True)
    assert (pivot.logit - pivot.weighted).abs().max() > 1e-2
    variants = table.pivot_table(index=["image", "baseline", "method", "contrast", "target", "kept"],
                                 columns="variant", values="r", observed=True)
    assert ((variants.plain - variants.equal).abs() > 1e-6).mean() > 0.2
    # equal blurring: both contrasts replace as many pixels; plain: each its own sign set
    equal = table[table.variant == "equal"].pivot_table(
        index=["image", "baseline", "method", "target", "kept"], columns="contrast",
        values="replaced", observed=True)
    assert np.array_equal(equal.logit, equal.weighted)
    with torch.no_grad():
        logits = model(images)
    clean = logits.softmax(1).topk(2)
    first = table[table.image == 1].iloc[0]
    assert (first.t1, first.t2) == tuple(clean.indices[1].tolist())
    assert first.p2 == pytest.approx(clean.values[1, 1].item(), abs=1e-12)


def test_given_classes_are_used_in_their_order():
    model = tiny_cnn(seed=3)
    images = random_images(batch=2, size=8, seed=4)
    table = masking_table(model, images, classes=[[4, 0], [1, 2]], methods=("la",),
                          baselines={"zeros": BASELINES["zeros"]})
    assert table.groupby("image")[["t1", "t2"]].first().values.tolist() == [[4, 0], [1, 2]]
    with torch.no_grad():
        y = model(images)
    r = torch.softmax(y[[0, 0], [4, 0]], 0)
    t2 = table[(table.image == 0) & (table.target == "t2")]
    assert t2.r_unmasked.iloc[0] == pytest.approx(r[1].item(), abs=1e-12)


# --- the experiment through the runner: resume and shards --------------------------------------
def counting(experiment, calls):
    def run_batch(batch, device):
        calls.append(batch["start"])
        return experiment.run_batch(batch, device)

    return runner.Experiment(experiment.name, experiment.version, experiment.config,
                             experiment.batches, run_batch)


def test_resumed_and_sharded_runs_give_the_single_run_table(tmp_path):
    experiment = blurring.experiment("smoke", n_images=18, batch_size=9)
    assert [(b["start"], b["stop"]) for b in experiment.batches] == [(0, 9), (9, 18)]
    calls = []
    runner.run(counting(experiment, calls), out=tmp_path / "a", shard=(1, 2), progress=False)
    assert calls == [9] and runner.status(tmp_path / "a" / "blurring").missing == (0,)
    resumed = runner.run(counting(experiment, calls), out=tmp_path / "a", progress=False)
    assert calls == [9, 0]  # only the missing batch ran
    single = runner.run(experiment, out=tmp_path / "b", progress=False)
    pd.testing.assert_frame_equal(resumed, single)
    scan = single[single.variant == "unmasked"]
    assert sorted(set(scan.image)) == list(range(18)) and len(scan) == 36
    above = scan.p2 > blurring.THRESHOLD
    assert set(scan[above].subset) <= {"above"} and set(scan[~above].subset) <= {"below", "scanned"}
    sampled = set(single[single.subset == "below"].image)
    assert sampled == {i for i in scan[~above].image if i % 9 == 0}
    grid_images = set(single[single.variant != "unmasked"].image)
    assert grid_images == set(scan[above].image) | sampled
    assert len(single[single.variant != "unmasked"]) == len(grid_images) * 144


# --- the full profile's code path on the fake CUB archive ---------------------------------------
def stand_in(class_names):
    """A tiny CNN in place of VGG16-BN, with the same metadata keys."""
    from whynot.models.common import IMAGENET_MEAN, IMAGENET_STD, NormalizedModel

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 6, 3, padding=1),
                        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(6, len(class_names)))
    return NormalizedModel(net, IMAGENET_MEAN, IMAGENET_STD, {
        "name": "vgg16_bn_cub", "class_names": tuple(class_names), "input_size": 32,
        "default_layer": "net.2"}).eval()


def test_full_profile_runs_on_the_fake_cub_archive(tmp_path, monkeypatch):
    from fixtures_real import make_fake_cub

    from whynot.data.cub import CUB200, download_cub

    assert blurring.PLANS["full"]["models"] == [("vgg16_bn_cub", "cub", 5794)]
    fake = make_fake_cub(tmp_path / "source")
    root = download_cub(tmp_path / "data", url=fake.archive.as_uri(), md5=fake.md5).parent
    monkeypatch.delenv(blurring.CUB_ENV, raising=False)
    monkeypatch.delenv(blurring.CUB_CHECKPOINT_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match=blurring.CUB_CHECKPOINT_ENV):
        blurring.experiment("full")
    # a finetune_cub checkpoint of the stand-in, with weights that differ from its init
    names = CUB200(root, "test").class_names
    trained = stand_in(names)
    with torch.no_grad():
        trained.net[-1].bias.copy_(torch.tensor([0.3, -0.2, 0.1]))
    checkpoint = tmp_path / "vgg16_bn_cub.pt"
    torch.save({"model": trained.state_dict(), "optimizer": {}, "epoch": 1, "history": []},
               checkpoint)
    monkeypatch.setenv(blurring.CUB_CHECKPOINT_ENV, str(checkpoint))
    monkeypatch.setattr(blurring, "cub_architecture", stand_in)
    experiment = blurring.experiment("full", n_images=3, batch_size=2)
    assert experiment.config["weights"]["vgg16_bn_cub"] == hashlib.sha256(
        checkpoint.read_bytes()).hexdigest()[:16]
    with pytest.raises(FileNotFoundError, match=blurring.CUB_ENV):
        runner.run(experiment, out=tmp_path / "store", progress=False)
    monkeypatch.setenv(blurring.CUB_ENV, str(root))
    table = runner.run(experiment, out=tmp_path / "store", progress=False)
    test = CUB200(root, "test", size=32)
    order = torch.randperm(3, generator=torch.Generator().manual_seed(0)).tolist()
    scan = table[table.variant == "unmasked"].groupby("image").first()
    assert scan.label.tolist() == [int(test.labels[i]) for i in order]
    images = torch.stack([test[i][0] for i in order])
    with torch.no_grad():
        p = trained(images).softmax(1).topk(2)
    np.testing.assert_allclose(scan.p2, p.values[:, 1].numpy(), atol=1e-6)
    assert (scan.t1.to_numpy() == p.indices[:, 0].numpy()).all()
    masked = table[table.variant != "unmasked"]
    assert len(masked) == 144 * (scan.subset != "scanned").sum() > 0
    assert (table.model == "vgg16_bn_cub").all() and (table.data == "cub").all()


# --- the analysis -------------------------------------------------------------------------------
def hand_table() -> pd.DataFrame:
    """One cell (blur, LA, t1), 4 images; weighted beats original when positive features are
    kept (differences +0.1, +0.2, +0.1, +0.2) and ties when negative ones are (0, +0.1, -0.1, 0)."""
    rows = []
    ori = {"positive": [0.6, 0.5, 0.7, 0.6], "negative": [0.4, 0.3, 0.5, 0.4]}
    diff = {"positive": [0.1, 0.2, 0.1, 0.2], "negative": [0.0, 0.1, -0.1, 0.0]}
    for kept in ("positive", "negative"):
        for image in range(4):
            for contrast, value in (("logit", ori[kept][image]),
                                    ("weighted", ori[kept][image] + diff[kept][image])):
                rows.append({"model": "m", "data": "d", "image": image, "label": 0,
                             "subset": "above", "t1": 0, "t2": 1, "p1": 0.6, "p2": 0.4,
                             "variant": "plain", "baseline": "blur", "method": "la",
                             "contrast": contrast, "target": "t1", "kept": kept,
                             "replaced": 0.5, "r": value, "r_unmasked": 0.6})
    return pd.DataFrame(rows)


def test_contrast_comparison_and_direction_by_hand():
    compared = blurring.compare_contrasts(hand_table()).set_index("kept")
    assert compared.loc["positive", "difference"] == pytest.approx(0.15)
    assert compared.loc["positive", "winner"] == "weighted"
    assert compared.loc["negative", "difference"] == pytest.approx(0.0, abs=1e-12)
    assert compared.loc["negative", "winner"] == "neither"
    assert 0.1 - 1e-12 <= compared.loc["positive", "low"] < compared.loc["positive", "high"] <= 0.2 + 1e-12
    direction = blurring.compare_with_unmasked(hand_table()).set_index(["kept", "contrast"])
    # positive kept: changes (0, -0.1, +0.1, 0) for original, (+0.1, +0.1, +0.2, +0.2) weighted
    assert direction.loc[("positive", "logit"), "direction"] == "unresolved"
    assert direction.loc[("positive", "weighted"), "direction"] == "as expected"
    assert direction.loc[("negative", "logit"), "change"] == pytest.approx(-0.2)
    assert direction.loc[("negative", "logit"), "direction"] == "as expected"
    summary = blurring.summarize(hand_table())
    assert summary.images.tolist() == [4] * 4


def test_side_by_side_puts_the_papers_rows_beside_ours():
    summary = blurring.summarize(hand_table())
    table = blurring.side_by_side(summary, "m")
    assert table.loc[("Grad-CAM", "t2", "paper (CUB)"), ("Gaussian blur", "positive", "weighted")] == 0.776
    assert table.loc[("XGrad-CAM", "t1", "KTH (CUB, equal)"), ("zeros", "negative", "original")] == 0.426
    ours = table.loc[("LA", "t1", "ours: m, plain")]
    assert ours[("Gaussian blur", "positive", "original")] == pytest.approx(0.6)
    assert ours[("unmasked", "", "")] == 0.6 and np.isnan(ours[("zeros", "positive", "original")])
    assert (blurring.reference_winners("paper").advantage > 0).all()  # the paper's claim, as printed


# --- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, error, message", [
    ({"classes": [[0, 1, 2], [1, 2, 3]]}, ValueError, r"classes must be \[B, 2\]"),
    ({"classes": [[0, 9], [1, 2]]}, ValueError, "out of range"),
    ({"baselines": ("blur", "noise")}, ValueError, "unknown baselines"),
    ({"methods": "gradcam"}, ValueError, "sequence of CAM names"),
    ({"methods": ("gradcam", "gradient")}, ValueError, "share one engine pass"),
    ({"chunk_size": 0}, ValueError, "chunk_size"),
])
def test_bad_arguments_say_what_to_do(kwargs, error, message):
    arguments = {"baselines": BASELINES, **kwargs}
    with pytest.raises(error, match=message):
        masking_table(tiny_cnn(), random_images(), **arguments)


def test_bad_images_models_and_names_are_refused():
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        masking_table(tiny_cnn(), random_images()[0], baselines=BASELINES)
    softmax_model = nn.Sequential(tiny_cnn(), nn.Softmax(dim=1))
    with pytest.raises(ValueError, match="not logits"):
        masking_table(softmax_model, random_images(), baselines=BASELINES)
    with pytest.raises(ValueError, match="kept must be"):
        plain_keep(ORIGINAL, "both")
    with pytest.raises(ValueError, match="one shape"):
        equal_keep(ORIGINAL, ORIGINAL[0], "positive")
    with pytest.raises(ValueError, match="unknown profile"):
        blurring.experiment("huge")
    with pytest.raises(ValueError, match="smoke plan"):
        blurring.experiment("smoke", models=["synth_resnet"])


# --- the claims (whynot.claims.ch04), on hand-made tables ---------------------------------------

def test_the_expected_direction_is_the_relative_probabilitys_declared_one():
    assert blurring.expected_direction("positive") == "higher"
    assert blurring.expected_direction("negative") == "lower"
    assert blurring.EXPECTED == {"positive": 1, "negative": -1}
    with pytest.raises(ValueError, match="positive"):
        blurring.expected_direction("both")


def test_weighted_better_and_direction_records_by_hand():
    table = hand_table()
    differences = blurring.compare_contrasts(table)
    directions = blurring.compare_with_unmasked(table)
    # LA, one cell per sign: positive kept, weighted better (+0.1 .. +0.2); negative kept, the
    # differences (0, +0.1, -0.1, 0) leave it unresolved
    better = blurring.weighted_better_record("wang-table1-weighted-better", differences)
    assert (better.verdict, better.n) == ("partly holds", 2)
    assert "holds in 1, does not hold in 0, not resolved in 1 of 2" in better.why
    # weighted maps: positive kept, changes (+0.1, +0.1, +0.2, +0.2) up; negative kept, changes
    # (-0.2, -0.2, -0.2, -0.2) + (0, 0.1, -0.1, 0): down
    direction = blurring.direction_record("wang-table1-weighted-direction", directions,
                                          "weighted")
    assert (direction.verdict, direction.n) == ("holds", 2)
    # the original map of t1 with negative features kept falls: "rises" does not hold
    falls = blurring.direction_record("wang-table1-logit-fails", directions, "logit",
                                      target="t1", kept="negative", claimed="higher")
    assert (falls.verdict, falls.n) == ("does not hold", 1)


def test_xgradcam_advantage_by_hand():
    rows = []
    for method, values in (("xgradcam", [0.2, 0.3, 0.2]), ("gradcam", [0.4, 0.4, 0.4]),
                           ("la", [0.1, 0.3, 0.5])):
        for image, value in enumerate(values):  # t1, negative features kept: lower is better
            rows.append({"model": "m", "data": "d", "image": image, "label": 0,
                         "subset": "above", "t1": 0, "t2": 1, "p1": 0.6, "p2": 0.4,
                         "variant": "plain", "baseline": "blur", "method": method,
                         "contrast": "weighted", "target": "t1", "kept": "negative",
                         "replaced": 0.5, "r": value, "r_unmasked": 0.6})
    advantage = blurring.xgradcam_advantage(pd.DataFrame(rows), seed=0).set_index("other")
    assert advantage.loc["gradcam", "advantage"] == pytest.approx(0.4 - 0.7 / 3)
    assert advantage.loc["la", "advantage"] == pytest.approx(0.2 / 3)  # (-0.1, 0, +0.3)
    assert advantage.loc["gradcam", "low"] > 0  # (0.2, 0.1, 0.2) every resample above 0
    assert advantage.loc["la", "low"] < 0 < advantage.loc["la", "high"]
    record = blurring.xgradcam_record(advantage.reset_index())
    assert (record.verdict, record.n) == ("partly holds", 2)


def test_table1_records_cover_every_claim_of_the_chapter():
    from whynot.claims import claims_of

    table = hand_table()
    records = blurring.table1_records(table, blurring.compare_contrasts(table),
                                      blurring.compare_with_unmasked(table))
    assert sorted(r.claim for r in records) == sorted(
        c.id for c in claims_of("04_blurring_and_masking"))
    verdicts = {r.claim: r.verdict for r in records}
    assert verdicts["reports-table1-similar"] == "needs the full profile"
    assert verdicts["wang-table1-other-datasets"] == "not tested"
