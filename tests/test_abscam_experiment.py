"""Chapter 07's experiment: its rows against direct calls, both readings, summaries, verdicts, COCO rows."""
from __future__ import annotations

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


def test_runner_rows_equal_direct_scores_and_the_literal_rows_equal_the_initial_ones(smoke_table):
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
    literal = smoke_table[smoke_table.method == "abscam_literal"]
    assert literal.deletion.isna().all() and literal.insertion.isna().all()  # ranks = Abs-CAM_init's
    gaps = abscam.literal_identity(smoke_table)
    assert gaps.drop_top50 < 1e-3 and gaps.hit_parts == 0 and gaps.mass_bird < 1e-6
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


def test_summaries_compare_with_the_paper_and_verdicts_follow_the_intervals():
    better = {m: [40.0, 50.0, 60.0, 45.0] for m in abscam.RIVALS} | {"abscam": [30.0, 40.0, 50.0, 35.0]}
    table = rows(better, "drop_top50").assign(increase_top50=100.0, insertion=0.5, deletion=0.1, hit_parts=1.0)
    summary = abscam.summarize(table)
    assert list(summary.index) == [m for m in abscam.METHODS if m != "abscam_literal"]
    assert summary.loc["abscam", "drop_top50"] == pytest.approx(38.75) and summary.loc["abscam", "images"] == 4
    compared = abscam.compare_table2(summary)
    assert compared.loc["Abs-CAM", ("drop", "paper")] == pytest.approx(34.2)
    assert compared.loc["Abs-CAM", ("drop", "ours")] == pytest.approx(38.75)
    found = abscam.verdicts(table)
    grid = abscam.verdict_grid(found)
    assert (grid["drop_top50"] == "holds").all()  # lower by 10 points on every image
    assert (grid["insertion"] == "not resolved").all()  # equal everywhere
    worse = abscam.verdicts(table.assign(drop_top50=np.where(table.method == "abscam", 99.0, 1.0)))
    assert (abscam.verdict_grid(worse)["drop_top50"] == "does not hold").all()
    times = pd.DataFrame({"ratio": [2.0, 50.0]}, index=["gradcam", "abscam"])
    assert abscam.verdicts(table, times=times).iloc[-1].verdict == "does not hold"  # 25x > 10x
    table3 = abscam.compare_table3(summary, times.reindex(list(abscam.METHODS)).fillna(2.0))
    assert table3.loc["Abs-CAM", ("time / Grad-CAM", "paper")] == pytest.approx(23.46 / 16.84)
    assert table3.loc["Abs-CAM", ("time / Grad-CAM", "ours")] == pytest.approx(25.0)


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
    found = abscam.verdicts(pd.DataFrame({"image": [0], "method": ["abscam"]}), similarity=same)
    assert (found[found.metric == "similarity"].verdict == "does not hold").all()


def test_running_times_cover_every_method():
    from whynot.models.zoo import load_model

    times = abscam.running_times(load_model("synth_vgg"), torch.rand(2, 3, 56, 56), repeats=1)
    assert list(times.index) == list(abscam.METHODS) and (times.ratio > 0).all()


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
