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


def test_full_plan_is_vgg19_on_imagenet_and_compares_with_the_paper():
    experiment = groupcam.experiment("full")
    assert [tuple(m) for m in experiment.config["models"]] == [("vgg19", "imagenet", 10000)]
    assert len(experiment.batches) == 10000 // 16
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
