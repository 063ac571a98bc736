"""Chapter 06's experiment: its settings, tables and the runner path, on tiny plans."""
from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from whynot.experiments import groupcam, runner
from whynot.metrics import deletion, insertion


def test_settings_skip_the_default_in_the_ablations_and_cap_groups_at_the_channels():
    plan = groupcam.PLANS["default"]
    rows = groupcam.settings(plan, channels=16)
    assert [r["method"] for r in rows[:4]] == list(groupcam.METHODS)
    groups = [r["groups"] for r in rows if r["study"] == "groups"]
    thetas = [r["theta"] for r in rows if r["study"] == "theta"]
    assert groups == [1, 4, 8, 16] and groupcam.DEFAULT_THETA not in thetas and len(thetas) == 5


def test_summaries_are_percent_with_overall_the_difference_and_the_ablation_reuses_table1():
    table = pd.DataFrame({
        "image": [0, 1, 0, 1, 0], "study": ["methods", "methods", "methods", "methods", "groups"],
        "method": ["gradcam", "gradcam", "groupcam", "groupcam", "groupcam"], "groups": [0, 0, 32, 32, 1],
        "theta": [math.nan, math.nan, 70.0, 70.0, 70.0],
        "deletion": [0.1, 0.3, 0.2, 0.2, 0.4], "insertion": [0.9, 0.7, 0.8, 0.6, 0.5],
    })
    summary = groupcam.summarize(table[table.study == "methods"], by="method")
    assert summary.loc["gradcam", "insertion"] == pytest.approx(80.0)
    assert summary.loc["gradcam", "overall"] == pytest.approx(60.0)
    assert summary.loc["groupcam", "deletion_ci"] == pytest.approx(0.0)
    assert summary.loc["gradcam", "images"] == 2
    groups = groupcam.ablation(table, "groups")
    assert sorted(groups.groups.tolist()) == [1, 32]  # image 0's default row joins, image 1's does not
    with pytest.raises(ValueError, match="study"):
        groupcam.ablation(table, "G")


def test_runner_rows_equal_direct_scores(tmp_path):
    experiment = groupcam.experiment("smoke", n_images=1)
    table = runner.run(experiment, out=tmp_path, progress=False)
    assert sorted(table.study.unique()) == ["groups", "methods", "theta"]
    from whynot.data.synthetic import load_synthbirds
    from whynot.models.zoo import load_model

    model, images = load_model("synth_vgg"), load_synthbirds("test", n=1).images
    classes = model(images).argmax(dim=1)
    row = table[(table.study == "methods") & (table.method == "groupcam")].iloc[0]
    maps = groupcam.explain_setting(model, images, classes, row)
    assert row.deletion == pytest.approx(deletion(model, images, maps, classes).auc.item(), abs=1e-6)
    assert row.insertion == pytest.approx(insertion(model, images, maps, classes).auc.item(), abs=1e-6)
    again = runner.run(experiment, out=tmp_path, progress=False)  # stored: read back, not recomputed
    pd.testing.assert_frame_equal(again, table)


def test_full_plan_is_vgg19_and_resnet50_on_imagenet_and_compares_with_the_paper():
    experiment = groupcam.experiment("full")
    assert [tuple(m) for m in experiment.config["models"]] == [("vgg19", "imagenet", 10000),
                                                               ("resnet50", "imagenet", 5000)]
    assert len(experiment.batches) == 10000 // 16 + 5000 // 16 + 1
    assert groupcam.PLANS["full"]["ablation"] == {"vgg19": 5000}  # Table 2, Fig. 5: VGG19 only
    reference = groupcam.reference()
    assert reference["table1"]["Group-CAM"]["overall"] == pytest.approx(53.62)
    summary = pd.DataFrame({"insertion": [60.0] * 4, "deletion": [10.0] * 4, "overall": [50.0] * 4},
                           index=list(groupcam.METHODS))
    compared = groupcam.compare_table1(summary)
    assert compared.loc["Group-CAM", ("insertion", "paper")] == pytest.approx(64.91)
    assert compared.loc["Score-CAM", ("over-all", "ours")] == pytest.approx(50.0)


def test_running_times_are_ratios_to_one_forward():
    from whynot.models.zoo import load_model

    times = groupcam.running_times(load_model("synth_vgg"), torch.rand(2, 3, 56, 56), repeats=1)
    assert list(times.index) == list(groupcam.METHODS)
    assert (times.ratio > 0).all() and times.ratio.loc["gradcam"] < times.ratio.loc["scorecam"]


def test_verdicts_follow_the_interval_and_the_expected_sign():
    assert groupcam.verdict(0.1, 0.3, 1) == "holds"
    assert groupcam.verdict(-0.3, -0.1, 1) == "does not hold"
    assert groupcam.verdict(-0.3, -0.1, -1) == "holds"
    assert groupcam.verdict(-0.1, 0.2, 1) == "not resolved"
    assert groupcam.verdict(math.nan, math.nan, 1) == "not resolved"
    # a bound within round-off of 0 never decides: the same verdict on any CPU
    assert groupcam.verdict(1e-6, 0.3, 1) == groupcam.verdict(-1e-6, 0.3, 1) == "not resolved"
    assert groupcam.verdict(-0.3, -1e-6, 1) == "not resolved"
    assert groupcam.verdict(-0.3, -2e-4, 1) == "does not hold"
    first = pd.Series([1.0, 2.0, 3.0, 9.0], index=[0, 1, 2, 5])
    second = pd.Series([0.5, 1.5, 2.5, 0.0], index=[0, 1, 2, 7])  # image 5 and 7 unpaired
    mean, low, high = groupcam.paired_difference(first, second)
    assert mean == pytest.approx(0.5) and low == pytest.approx(0.5) and high == pytest.approx(0.5)


def test_across_models_pairs_each_model_s_images_with_group_cam():
    rows = [dict(model=model, study="methods", image=image, method=method, insertion=value, deletion=0.0)
            for model, offset in (("a", 0.0), ("b", -0.5))
            for image in range(3)
            for method, value in (("groupcam", 0.6 + 0.1 * image), ("gradcam", 0.5 + 0.1 * image),
                                  ("gradcam++", 0.6 + 0.1 * image), ("scorecam", 0.9 + 0.1 * image + offset))]
    found = groupcam.across_models(pd.DataFrame(rows)).set_index(["model", "rival"])
    assert found.loc[("a", "Grad-CAM"), "difference"] == pytest.approx(10.0)
    assert found.loc[("a", "Grad-CAM"), "verdict"] == "holds"
    assert found.loc[("a", "Grad-CAM++"), "verdict"] == "not resolved"  # a zero difference
    assert found.loc[("a", "Score-CAM"), "verdict"] == "does not hold"
    assert found.loc[("b", "Score-CAM"), "difference"] == pytest.approx(20.0)
    assert (found.images == 3).all()


def test_class_discrimination_rows_and_the_uniform_chance_level():
    from whynot.data.synthetic import PART_NAMES, load_synthbirds
    from whynot.models.zoo import load_model

    birds = load_synthbirds("test", n=54)
    table = groupcam.class_discrimination(load_model("synth_vgg"), birds.images, birds.part_masks)
    assert set(table.method) == {"GradCAM (logit)", "Group-CAM (softmax)", "Group-CAM (weighted)",
                                 "uniform map (chance)"}
    chance = table[(table.method == "uniform map (chance)") & (table["rank"] == 1)]
    for row in chance.itertuples():
        share = birds.part_masks[row.image, PART_NAMES.index(row.part)].float().mean().item()
        assert row.part_mass == pytest.approx(share)
    assert table.part_mass.between(0, 1).all()


def test_explorer_views_cover_every_combination():
    from whynot.data.synthetic import load_synthbirds
    from whynot.models.zoo import load_model

    images = load_synthbirds("test", n=2).images
    views, controls = groupcam.explorer_views(load_model("synth_vgg"), images, groups=[1, 32])
    assert len(views) == 2 * 4 * 2 and controls["groups"] == ["G = 1", "G = 32"]
    assert (views[("image 0", "Grad-CAM", "G = 1")] == views[("image 0", "Grad-CAM", "G = 32")]).all()
    assert not (views[("image 0", "Group-CAM", "G = 1")] == views[("image 0", "Group-CAM", "G = 32")]).all()
