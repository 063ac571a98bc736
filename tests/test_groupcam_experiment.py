"""Chapter 06's experiment: its settings, tables and the runner path, on tiny plans."""
from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from test_coco import root  # noqa: F401 (fixture)

from whynot.experiments import cam_claims, groupcam, runner
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


def test_full_plan_is_vgg19_and_resnet50_on_imagenet_and_coco_and_compares_with_the_paper():
    experiment = groupcam.experiment("full")
    assert [tuple(m) for m in experiment.config["models"]] == [
        ("vgg19", "imagenet", 10000), ("resnet50", "imagenet", 5000), ("resnet50", "coco", 500)]
    assert len(experiment.batches) == 10000 // 16 + (5000 // 16 + 1) + (500 // 16 + 1)
    assert groupcam.PLANS["full"]["ablation"] == {"vgg19": 5000}  # Table 2, Fig. 5: VGG19 only
    reference = groupcam.reference()
    assert reference["table1"]["Group-CAM"]["overall"] == pytest.approx(53.62)
    summary = pd.DataFrame({"insertion": [60.0] * 4, "deletion": [10.0] * 4, "overall": [50.0] * 4},
                           index=list(groupcam.METHODS))
    compared = groupcam.compare_table1(summary)
    assert compared.loc["Group-CAM", ("insertion", "paper")] == pytest.approx(64.91)
    assert compared.loc["Score-CAM", ("over-all", "ours")] == pytest.approx(50.0)


def methods_table(offsets: dict[str, float], models=("a",)) -> pd.DataFrame:
    """Table 1 rows: insertion = 0.5 + image / 10 + the method's offset, deletion 0."""
    return pd.DataFrame([dict(model=model, data="synthbirds", study="methods", image=image, method=method,
                              insertion=0.5 + 0.1 * image + offset, deletion=0.0)
                         for model in models for image in range(3) for method, offset in offsets.items()])


def test_table1_records_combine_every_rival_and_model_and_show_the_least_favourable():
    found = {r.claim: r for r in groupcam.table1_records(methods_table(
        {"groupcam": 0.1, "gradcam": 0.0, "gradcam++": 0.1, "scorecam": 0.4}, models=("a", "b")))}
    insertion = found["groupcam-table1-insertion"]
    assert insertion.verdict == "partly holds"  # above Grad-CAM, level with Grad-CAM++, below Score-CAM
    assert insertion.effect == pytest.approx(-30.0) and "shown: a vs Score-CAM" in insertion.why
    assert insertion.n == 3 and "6 settings" in insertion.why
    assert found["groupcam-table1-deletion"].verdict == "not resolved"  # zero everywhere
    best = groupcam.table1_records(methods_table({"groupcam": 0.3, "gradcam": 0.0, "gradcam++": 0.1,
                                                  "scorecam": 0.2}))
    assert [r.verdict for r in best] == ["holds", "not resolved", "holds"]
    assert best[0].effect == pytest.approx(10.0)  # the closest rival, in AUC points


def test_speed_records_judge_the_ratio_of_times_against_the_paper_s_ratios():
    seconds = {"forward": 1.0, "gradcam": 1.0, "groupcam": 2.0, "scorecam": 60.0}
    times = pd.DataFrame([dict(repeat=r, method=m, seconds=s * (1 + r)) for r in range(3)
                          for m, s in seconds.items()])
    gradcam, scorecam = groupcam.speed_records(times, "m", "d")
    assert gradcam.claim == "groupcam-table3-gradcam" and gradcam.verdict == "holds"  # 2x < 3x
    assert gradcam.effect == pytest.approx(2.0) and gradcam.n == 3
    assert scorecam.verdict == "holds" and scorecam.effect == pytest.approx(30.0)  # 30x > 27x
    slow = times.assign(seconds=times.seconds.where(times.method != "groupcam", 20.0 * (1 + times.repeat)))
    assert [r.verdict for r in groupcam.speed_records(slow, "m", "d")] == ["does not hold"] * 2
    one = groupcam.speed_records(times[times.repeat == 0], "m", "d")
    assert [r.verdict for r in one] == ["not resolved"] * 2  # one repeat: no interval
    table = cam_claims.time_table(times)
    assert table.loc["scorecam", "ratio to a forward pass"] == pytest.approx(60.0)


def test_one_group_without_denoising_is_gradcam_on_a_trained_model():
    from whynot.data.synthetic import load_synthbirds
    from whynot.models.zoo import load_model

    gap, count = groupcam.g1_gap(load_model("synth_vgg"), load_synthbirds("test", n=4).images)
    assert gap < 1e-5 and 1 <= count <= 4


def test_claim_records_give_every_registered_claim_one_record():
    from whynot import claims

    table = methods_table({"groupcam": 0.1, "gradcam": 0.0, "gradcam++": 0.1, "scorecam": 0.4})
    group = table[table.method == "groupcam"]
    ablated = [group.assign(study="groups", groups=1, insertion=group.insertion - 0.05),
               group.assign(study="theta", theta=90.0)]
    table = pd.concat([table.assign(groups=32, theta=70.0), *ablated], ignore_index=True)
    sanity = pd.DataFrame({"mode": "cascading", "depth": 3, "method": "groupcam", "spearman": [0.1, 0.2, 0.0]})
    noise = pd.DataFrame([dict(image=i, method=m, entropy=0.5 + 0.1 * i + (m == "groupcam") * 0.1)
                          for i in range(3) for m in ("gradcam", "scorecam", "groupcam")])
    discrimination = pd.DataFrame([dict(image=i, rank=2, method=m, part_mass=0.1 + 0.1 * i + 0.2 * (m != groupcam.CHANCE))
                                   for i in range(3) for m in ("Group-CAM (softmax)", groupcam.CHANCE)])
    records = groupcam.claim_records(table, "a", sanity, discrimination, noise, (2e-7, 3))
    times = pd.DataFrame([dict(repeat=0, method=m, seconds=1.0) for m in ("gradcam", "groupcam", "scorecam")])
    records += groupcam.speed_records(times, "a", "d")
    assert sorted(r.claim for r in records) == sorted(c.id for c in claims.claims_of("06_group_cam"))
    found = {r.claim: r for r in records}
    assert found["groupcam-table2-groups"].verdict == "holds"  # G = 32 is 5 points above G = 1
    assert found["groupcam-table2-groups"].effect == pytest.approx(5.0)
    assert found["groupcam-fig5-theta"].verdict == "not resolved"  # equal at theta 90 and 70
    assert found["groupcam-fig6-sanity"].verdict == "holds" and found["groupcam-fig6-sanity"].n == 3
    assert found["groupcam-fig2-noise"].verdict == "does not hold"  # 0.1 more spread than both
    assert found["groupcam-fig3-discrimination"].verdict == "holds"
    assert found["groupcam-fig3-discrimination"].n == 3  # images
    assert found["groupcam-g1-gradcam"].verdict == "holds"
    assert found["groupcam-table4-pointing"].verdict == "needs the full profile"
    assert found["groupcam-fig7-finetune"].verdict == "not tested"
    claims.record(records)  # the registry accepts them


def test_table4_pointing_pairs_methods_over_coco_categories():
    rows = pd.DataFrame([dict(model="resnet50", data="coco", study="pointing", image=i, category=c, method=m,
                              hit_coco=float(m == "groupcam" or i % 2))
                         for i in range(4) for c in ("dog", "cat", "bird") for m in groupcam.METHODS])
    record = groupcam.pointing_record(rows)
    assert record.verdict == "holds" and record.effect == pytest.approx(50.0)  # 100 % vs 50 %
    assert record.unit == "COCO categories" and record.n == 3


def test_class_discrimination_rows_and_the_uniform_chance_level():
    from whynot.data.synthetic import PART_NAMES, load_synthbirds
    from whynot.models.zoo import load_model

    birds = load_synthbirds("test", n=54)
    table = groupcam.class_discrimination(load_model("synth_vgg"), birds.images, birds.part_masks)
    assert set(table.method) == {"Grad-CAM (logit)", "Group-CAM (softmax)", "Group-CAM (weighted)",
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


def test_coco_rows_point_each_category_once_per_method(root, monkeypatch):  # noqa: F811
    from test_explainers import tiny_cnn

    from whynot.data import coco
    from whynot.models.common import NormalizedModel

    net = tiny_cnn(width=32, classes=1000, dtype=torch.float32)
    model = NormalizedModel(net, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25),
                            {"name": "tiny", "input_size": 56}).eval()
    monkeypatch.setenv(coco.COCO_ENV, str(root))
    coco._pointing.cache_clear()
    table = groupcam.coco_rows(model, {"model": "tiny", "start": 0, "stop": 5})
    coco._pointing.cache_clear()
    assert len(table) == 2 * len(groupcam.METHODS)  # image 139: dog; image 632: cat
    assert (table.study == "pointing").all() and set(table.category) == {"dog", "cat"}
    assert list(table.method.unique()) == list(groupcam.METHODS)
    assert table.hit_coco.isin([0.0, 1.0]).all()
