"""Chapter 07's experiment: its rows against direct calls, both readings, summaries, verdicts, COCO rows."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from test_coco import root  # noqa: F401 (fixture)
from test_explainers import single_thread, tiny_cnn  # noqa: F401 (fixture)

from whynot.experiments import abscam, runner
from whynot.metrics import average_drop, average_increase, deletion, insertion
from whynot.models.common import NormalizedModel


@pytest.fixture(scope="module")
def smoke_table(tmp_path_factory):
    experiment = abscam.experiment("smoke", models=["synth_vgg"], n_images=2)
    return runner.run(experiment, out=tmp_path_factory.mktemp("abscam"), progress=False)


def test_runner_rows_equal_direct_scores_and_the_summed_rows_equal_the_initial_ones(smoke_table):
    from whynot.data.synthetic import load_synthbirds
    from whynot.models.zoo import load_model

    assert list(dict.fromkeys(smoke_table.method)) == list(abscam.METHODS)
    model, images = load_model("synth_vgg"), load_synthbirds("test", n=2).images
    classes = model(images).argmax(dim=1)
    maps = abscam.explain_method(model, images, classes, "abscam")
    rows = smoke_table[smoke_table.method == "abscam"].sort_values("image")
    np.testing.assert_allclose(rows.drop_top50, average_drop(model, images, maps, classes, 0.5).numpy(), atol=1e-4)
    np.testing.assert_allclose(rows.increase, average_increase(model, images, maps, classes).numpy())
    np.testing.assert_allclose(rows.deletion, deletion(model, images, maps, classes).auc.numpy(), atol=1e-6)
    np.testing.assert_allclose(rows.insertion, insertion(model, images, maps, classes).auc.numpy(), atol=1e-6)
    summed = smoke_table[smoke_table.method == "abscam_summed"]
    assert summed.deletion.isna().all() and summed.insertion.isna().all()  # ranks = Abs-CAM_init's
    np.testing.assert_allclose(rows.entropy, abscam.map_entropy(maps).numpy(), atol=1e-6)
    gaps = abscam.summed_identity(smoke_table)
    assert gaps.drop_top50 < 1e-3 and gaps.hit_parts == 0 and gaps.mass_bird < 1e-6 and gaps.entropy < 1e-6
    assert smoke_table.bird_zone.between(0, 1).all() and smoke_table.hit_parts.isin([0.0, 1.0]).all()


def test_the_chapter_layer_is_the_last_relu_and_the_full_plan_is_the_papers():
    from whynot.models.zoo import load_model

    model = load_model("synth_vgg")
    assert isinstance(model.get_submodule(abscam.chapter_layer(model)), torch.nn.ReLU)
    experiment = abscam.experiment("full")
    assert [tuple(m) for m in experiment.config["models"]] == [("vgg16", "imagenet", 5500), ("vgg16", "coco", 300)]
    assert abscam.LAYERS["vgg16"] == "net.features.29"  # torchvision VGG16's last ReLU


def test_ground_truth_scores_by_hand():
    maps = torch.zeros(1, 8, 8)
    maps[0, 1, 1] = 1.0  # the peak: on the bird, 3 px from its parts
    maps[0, 7, 7] = 1.0 - 1e-3  # just below it, off the bird
    maps[0, 3, 3] = 0.5  # on the tail
    bird = torch.zeros(1, 8, 8, dtype=torch.bool)
    bird[0, :4, :4] = True
    parts = torch.zeros(1, 3, 8, 8, dtype=torch.bool)
    parts[0, 2, 3, 3] = True  # the tail: one pixel at distance sqrt(8) from the peak
    scores = abscam.ground_truth_scores(maps, bird, parts)  # tolerance 15 * 8 / 224 = 0.54 px
    assert scores["hit_bird"].item() == 1 and scores["hit_parts"].item() == 0
    assert scores["mass_bird"].item() == pytest.approx(1.5 / (2.5 - 1e-3))
    assert scores["mass_parts"].item() == pytest.approx(0.5 / (2.5 - 1e-3))


def rows(method_values: dict[str, list[float]], metric: str) -> pd.DataFrame:
    return pd.DataFrame([dict(model="m", image=i, method=method, **{metric: v})
                         for method, values in method_values.items() for i, v in enumerate(values)])


def test_summaries_compare_with_the_paper_at_its_precision_and_records_follow_the_intervals():
    better = {m: [40.0, 50.0, 60.0, 45.0] for m in abscam.RIVALS} | {"abscam": [30.0, 40.0, 50.0, 35.0]}
    table = rows(better, "drop_top50").assign(increase_top50=100.0, insertion=0.5, deletion=0.1, hit_parts=1.0,
                                              parts_zone=0.2, data="synthbirds")
    summary = abscam.summarize(table)
    assert list(summary.index) == [m for m in abscam.METHODS if m != "abscam_summed"]
    assert summary.loc["abscam", "drop_top50"] == pytest.approx(38.75) and summary.loc["abscam", "images"] == 4
    compared = abscam.compare_table2(summary)
    assert compared.loc["Abs-CAM", ("drop", "paper")] == "34.2"
    assert compared.loc["Grad-CAM", ("deletion", "paper")] == "0.1110"  # not 0.111: as printed
    assert compared.loc["Group-CAM", ("insertion", "paper")] == "0.493"
    assert compared.loc["Abs-CAM", ("drop", "ours")] == pytest.approx(38.75)
    found = {r.claim: r for r in abscam.claim_records(table)}
    assert found["abscam-table2-drop"].verdict == "holds"  # 10 points lower on every image
    assert found["abscam-table2-drop"].effect == pytest.approx(-10.0) and found["abscam-table2-drop"].n == 4
    assert found["abscam-table2-insertion"].verdict == "not resolved"  # equal everywhere
    assert found["abscam-fig3-other-cnn"].verdict == "holds"  # every image hits; chance is 0.2
    assert found["abscam-fig3-other-cnn"].effect == pytest.approx(0.8)
    worse = table.assign(drop_top50=np.where(table.method == "abscam", 99.0, 1.0))
    assert {r.claim: r for r in abscam.claim_records(worse)}["abscam-table2-drop"].verdict == "does not hold"
    mixed = table.assign(drop_top50=np.where((table.method == "abscam") | (table.method == "gradcam"), 1.0, 9.0))
    tied = {r.claim: r for r in abscam.claim_records(mixed)}["abscam-table2-drop"]
    assert tied.verdict == "partly holds" and tied.effect == pytest.approx(0.0)  # level with Grad-CAM
    grid = abscam.setting_grid(table)
    assert (grid["drop"] == "holds").all() and len(grid) == len(abscam.RIVALS)
    times = pd.DataFrame({"repeat": [0, 0, 1, 1], "method": ["gradcam", "abscam"] * 2, "seconds": [2.0, 50.0, 1.0, 25.0]})
    record = abscam.time_record(times, "m", "d")
    assert record.verdict == "does not hold" and record.effect == pytest.approx(25.0)  # 25x > 10x
    assert record.n == 2 and record.unit == "timing repeats"
    table3 = abscam.compare_table3(summary, pd.DataFrame({"seconds": [2.0, 50.0]}, index=["gradcam", "abscam"]))
    assert table3.loc["Abs-CAM", ("time / Grad-CAM", "paper")] == pytest.approx(23.46 / 16.84)
    assert table3.loc["Abs-CAM", ("time / Grad-CAM", "ours")] == pytest.approx(25.0)


def test_concentration_records_read_mass_on_the_bird_and_entropy():
    spread = {m: [0.5, 0.6, 0.7] for m in abscam.RIVALS} | {"abscam": [0.6, 0.7, 0.8]}
    table = rows(spread, "entropy").assign(data="synthbirds")
    table["mass_bird"] = np.where(table.method == "abscam", 0.9, 0.5)
    found = {r.claim: r for r in abscam.claim_records(table)}
    assert found["abscam-fig2-noise"].verdict == "does not hold"  # 0.1 more spread than each rival
    assert found["abscam-fig2-concentrated"].verdict == "holds"  # 0.4 more mass on the bird
    assert found["abscam-fig5-final"].verdict == "partly holds"  # more mass, but more spread
    assert found["abscam-fig5-final"].effect == pytest.approx(0.1)
    no_birds = {r.claim: r for r in abscam.claim_records(table.drop(columns="mass_bird"))}
    assert no_birds["abscam-fig2-concentrated"].verdict == "not tested"
    assert no_birds["abscam-fig5-final"].verdict == "does not hold"


def test_map_entropy_by_hand():
    from whynot.metrics import map_entropy

    maps = torch.tensor([[[1.0, 1.0], [1.0, 1.0]], [[0.0, 0.0], [0.0, 3.0]], [[2.0, 2.0], [0.0, -1.0]],
                         [[0.0, 0.0], [0.0, -1.0]]])
    found = map_entropy(maps)
    assert found[:3].tolist() == pytest.approx([1.0, 0.0, 0.5])  # uniform, one pixel, log 2 / log 4
    assert math.isnan(found[3]) and math.copysign(1.0, found[1]) == 1.0  # no mass; no -0


def test_class_discrimination_scores_every_map_and_the_uniform_chance():
    from whynot.data.synthetic import PART_NAMES, load_synthbirds
    from whynot.models.zoo import load_model

    birds = load_synthbirds("test", n=27)
    table, similarity = abscam.class_discrimination(load_model("synth_vgg"), birds.images, birds.part_masks)
    assert set(table.method) == {*abscam.CONTRAST_MAPS, abscam.CHANCE}
    for row in table[(table.method == abscam.CHANCE) & (table["rank"] == 1)].itertuples():
        share = birds.part_masks[row.image, PART_NAMES.index(row.part)].float().mean().item()
        assert row.part_mass == pytest.approx(share)
    assert similarity.similarity.between(-1, 1).all() and set(similarity.method) == set(abscam.CONTRAST_MAPS)
    same = similarity.assign(similarity=1.0)  # the same map for both classes: no discrimination
    fig4, fig2 = abscam.discrimination_records(table, same)
    assert fig4.claim == "abscam-fig4-discrimination" and fig4.verdict in ("partly holds", "does not hold")
    assert fig2.verdict == "not resolved" and fig2.effect == pytest.approx(0.0)  # Grad-CAM's too
    assert fig4.n == table.image.nunique()  # images, not maps (two per image)


def test_repeat_times_cover_every_method_and_every_repeat():
    from whynot.models.zoo import load_model

    times = abscam.repeat_times(load_model("synth_vgg"), torch.rand(2, 3, 56, 56), repeats=2)
    assert list(dict.fromkeys(times.method)) == ["forward", *abscam.METHODS]
    assert len(times) == 2 * (len(abscam.METHODS) + 1) and (times.seconds > 0).all()


def test_coco_rows_point_each_category_with_its_best_imagenet_class(root, monkeypatch):  # noqa: F811
    from whynot.data import coco

    net = tiny_cnn(width=32, classes=1000, dtype=torch.float32)
    model = NormalizedModel(net, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), {"name": "tiny", "input_size": 56}).eval()
    monkeypatch.setenv(coco.COCO_ENV, str(root))
    coco._pointing.cache_clear()
    table = abscam.coco_rows(model, {"model": "tiny", "start": 0, "stop": 5})
    coco._pointing.cache_clear()
    assert len(table) == 2 * len(abscam.METHODS)  # image 139: dog; image 632: cat
    assert set(table.category) == {"dog", "cat"} and table.hit_coco.isin([0.0, 1.0]).all()
    dog = table[table.category == "dog"].target.unique()
    assert len(dog) == 1 and 151 <= dog[0] <= 268
    image, _ = coco.COCOPointing(root, 56)[0]
    assert dog[0] == int(torch.tensor(coco.COCO_TO_IMAGENET["dog"])[model(image[None])[0, 151:269].argmax()])


def test_pointing_summary_reads_the_birds_or_the_coco_boxes_by_hand():
    birds = pd.DataFrame({"model": "m", "data": "synthbirds", "image": [0, 0, 1, 1],
                          "method": ["gradcam", "abscam"] * 2, "hit_bird": [1.0, 1.0, 0.0, 1.0],
                          "hit_parts": [1.0, 0.0, 0.0, 0.0], "mass_bird": 0.5, "mass_parts": 0.25,
                          "bird_zone": [0.5, 0.5, 0.3, 0.3], "parts_zone": 0.1})
    other = birds.assign(model="other", hit_parts=1.0, bird_zone=0.9)  # another model's rows
    summary, hit, chance = abscam.pointing_summary(pd.concat([birds, other]), "m")
    assert hit == "hit_parts" and summary.loc["abscam", "hit_bird"] == 1.0
    assert summary.loc["gradcam", "hit_parts"] == 0.5 and summary.loc["gradcam", "images"] == 2
    assert chance.endswith("bird 0.400, parts 0.100")  # the model's images only
    # the full profile: ImageNet rows carry no masks, COCO rows point at boxes
    coco = pd.DataFrame({"model": "m", "data": "coco", "image": [7, 7, 7, 7, 9, 9],
                         "category": ["cat", "cat", "dog", "dog", "cat", "cat"],
                         "method": ["gradcam", "abscam"] * 3,
                         "hit_coco": [1.0, 0.0, 1.0, 1.0, 0.0, 1.0]})
    imagenet = pd.DataFrame({"model": "m", "data": "imagenet", "image": [0, 0],
                             "method": ["gradcam", "abscam"], "drop": 1.0})
    summary, hit, chance = abscam.pointing_summary(pd.concat([imagenet, coco]), "m")
    assert hit == "hit_coco" and list(summary.columns) == ["hit_coco", "hit_coco_ci", "images"]
    assert summary.loc["abscam", "hit_coco"] == pytest.approx(2 / 3)
    assert summary.loc["gradcam", "images"] == 3 and chance.startswith("COCO val2017: 3 (image,")
