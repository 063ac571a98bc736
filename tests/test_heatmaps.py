"""The figures' pieces (whynot.experiments.heatmaps): seeded image draws with p_k > 0.1, Fig. 1's
blur of the negative evidence, the mean/max identities of Fig. 5, Fig. 4's statistics, the
explorer's views and the full profile's missing data.

Fig. 5's identity under test: max_1 = phi(e_t1 - e_t2) = -phi(e_t2 - e_t1) = -max_2.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import whynot
from test_explainers import random_images, single_thread, tiny_cnn  # noqa: F401
from whynot.baselines import blur_for
from whynot.experiments import heatmaps
from whynot.experiments.heatmaps import Draw, closest_pair, draw
from whynot.metrics.model_randomization import pearson

P = torch.tensor([
    [0.90, 0.05, 0.05],
    [0.50, 0.30, 0.20],  # p2 and p3 above 0.1
    [0.60, 0.40, 0.00],
    [0.45, 0.44, 0.11],  # the closest pair; p3 above 0.1
    [0.70, 0.20, 0.10],  # p3 exactly 0.1: not above
])


def test_draw_is_seeded_and_takes_only_images_above_the_threshold():
    assert sorted(draw(P, n=10, rank=2).indices) == [1, 2, 3, 4]
    assert sorted(draw(P, n=10, rank=3).indices) == [1, 3]
    first = draw(P, n=2, rank=2, seed=3)
    assert first == draw(P, n=2, rank=2, seed=3) and first.passed and len(first.indices) == 2
    orders = {tuple(draw(P, n=4, rank=2, seed=s).indices) for s in range(20)}
    assert len(orders) > 1  # the seed matters: a random draw, not the first images


def test_draw_falls_back_to_the_closest_image_and_says_so():
    assert draw(P, n=3, rank=3, threshold=0.25) == Draw([1], False)  # largest p3 = 0.2
    with pytest.raises(ValueError, match="C >= rank"):
        draw(P, n=1, rank=4)
    with pytest.raises(ValueError, match="n must be"):
        draw(P, n=0)


def test_closest_pair_and_pearson_by_hand():
    assert closest_pair(P) == 3
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert pearson(a, 2 * a + 1).item() == pytest.approx(1.0)
    assert pearson(a, -a).item() == pytest.approx(-1.0)
    b = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    expected = np.corrcoef(a.flatten().numpy(), b.flatten().numpy())[0, 1]
    assert pearson(a, b).item() == pytest.approx(expected)
    assert torch.isnan(pearson(a, torch.ones(2, 2)))


def test_blurring_nothing_changes_nothing_and_blurring_everything_is_the_blur(single_thread):
    model, images = tiny_cnn(), random_images(batch=2, size=8, seed=3)
    classes = torch.tensor([[0, 1], [2, 3]])
    maps = torch.ones(2, 2, 8, 8, dtype=images.dtype)
    maps[:, :, :4] = 0  # zero is not negative evidence: kept
    untouched, table = heatmaps.blur_negative_evidence(model, images, maps, classes)
    assert torch.equal(untouched[:, 0], images) and (table.change == 0).all()
    assert len(table) == 2 * 2 * 2  # images x explained class x class
    everything, table = heatmaps.blur_negative_evidence(
        model, images, -torch.ones(2, 2, 8, 8, dtype=images.dtype), classes)
    blurred = blur_for(images, 101, 15.0)
    torch.testing.assert_close(everything[:, 1], blurred)
    with torch.no_grad():
        expected = model(blurred).softmax(dim=1)
    row = table[(table.image == 1) & (table.explained == 2) & (table.class_rank == 1)].iloc[0]
    assert row["class"] == 2 and row.p_after == pytest.approx(float(expected[1, 2]))
    assert row.change == pytest.approx(row.p_after - row.p_before)


def test_the_max_maps_of_the_top_two_classes_are_each_others_negatives(single_thread):
    model, images = tiny_cnn(), random_images(batch=5, size=8, seed=2)
    identities = heatmaps.contrast_identities(model, images, batch_size=2)
    assert identities.image.tolist() == list(range(5))
    assert (identities.max_sum < 1e-12).all()
    maps = whynot.explain(model, images, topk=3, contrast=("logit", "mean"))
    expected = pearson(maps["mean"], maps["logit"])
    np.testing.assert_allclose(identities[["r1", "r2", "r3"]].to_numpy(), expected.numpy())
    with torch.no_grad():
        p = model(images).softmax(dim=1).topk(3).values
    np.testing.assert_allclose(identities[["p1", "p2", "p3"]].to_numpy(), p.numpy())


def test_top_two_statistics_match_the_maps(single_thread):
    model, images = tiny_cnn(), random_images(batch=3, size=8, seed=5)
    stats = heatmaps.top_two_statistics(model, images, methods=("gradcam", "la"), batch_size=2)
    assert len(stats) == 3 * 2 * 2
    maps = whynot.explain(model, images, method="la", topk=2, contrast="weighted")
    row = stats[(stats.method == "LA") & (stats.contrast == "weighted")]
    np.testing.assert_allclose(row.r, pearson(maps[:, 0], maps[:, 1]).numpy())
    np.testing.assert_allclose(row.negative_t2, (maps[:, 1] < 0).double().mean(dim=(1, 2)).numpy())


def test_part_panel_highlights_one_part_and_dims_the_others():
    masks = torch.zeros(3, 2, 2, dtype=torch.bool)
    masks[0, 0, 0] = masks[1, 0, 1] = masks[2, 1, 1] = True
    picture = heatmaps.part_panel(masks, highlight="wing")
    np.testing.assert_allclose(picture[0, 1], np.asarray(heatmaps.PART_COLOURS[1]))
    np.testing.assert_allclose(picture[0, 0], np.asarray(heatmaps.PART_COLOURS[0]) / 3)
    np.testing.assert_allclose(picture[1, 0], 0)
    np.testing.assert_allclose(heatmaps.part_panel(masks, None)[1, 1], heatmaps.PART_COLOURS[2])


def test_explorer_views_cover_every_combination(single_thread):
    from whynot.data.synthetic import CLASS_NAMES, load_synthbirds
    from whynot.models.zoo import load_model

    birds = load_synthbirds("test", n=3)
    source = heatmaps.Source("birds", load_model("synth_vgg"), birds.images, CLASS_NAMES,
                             part_masks=birds.part_masks)
    assert source.probabilities.shape == (3, 27)
    views = heatmaps.explorer_views(source, [2, 0], ["b", "a"], size=32)
    assert len(views) == 2 * 3 * 4 * 3  # images x methods x contrasts x classes
    assert {key[0] for key in views} == {"a", "b"} and {key[3] for key in views} == {"t1", "t2", "t3"}
    view = views[("a", "Grad-CAM", "weighted", "t2")]
    assert view.shape == (32, 3 * 32, 3) and view.dtype == np.uint8
    assert not np.array_equal(view, views[("a", "Grad-CAM", "original", "t2")])


def test_the_full_profile_names_the_cub_variables_it_needs(monkeypatch):
    monkeypatch.delenv(heatmaps.CUB_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match="WHYNOT_CUB.*WHYNOT_CUB_VGG16_BN"):
        heatmaps.cub_source()
    with pytest.raises(ValueError, match="unknown profile"):
        heatmaps.sources("huge")


# --- claims: settings by hand, judged by whynot.claims ---------------------------------------
def test_the_probability_map_is_the_scaled_weighted_map(single_thread):
    model, images = tiny_cnn(), random_images(batch=4, size=8, seed=3)
    residuals = heatmaps.probability_equivalence(model, images)
    assert residuals.image.tolist() == [0, 1, 2, 3] and (residuals.residual < 1e-10).all()
    settings = heatmaps.equivalence_settings({"tiny": residuals})
    assert settings.verdict.tolist() == ["holds"]
    # the logit map is not the probability's map: the same comparison fails for it
    broken = residuals.assign(residual=0.5)
    assert heatmaps.equivalence_settings({"tiny": broken}).verdict.tolist() == ["does not hold"]


def changes_by_hand(n: int = 12) -> pd.DataFrame:
    """Weighted maps: own +0.1, other -0.2 on every image; original maps: own 0, other +0.1."""
    weighted = pd.DataFrame({"image": range(n), "contrast": "weighted", "own": 0.1,
                             "other": -0.2})
    original = pd.DataFrame({"image": range(n), "contrast": "original", "own": 0.0,
                             "other": 0.1})
    return pd.concat([weighted, original], ignore_index=True)


def test_figure1_settings_by_hand():
    settings = heatmaps.figure1_settings({"birds": changes_by_hand()})
    # rise 0.1; fall of the other 0.2; (0.1 + 0.2) - (0 - 0.1) = 0.4; constant, so the intervals
    # are points
    np.testing.assert_allclose(settings.effect, [0.1, 0.2, 0.4])
    np.testing.assert_allclose(settings.low, [0.1, 0.2, 0.4])
    assert settings.verdict.tolist() == ["holds"] * 3
    record = heatmaps.claim_records({"wang-fig1": settings}, "birds")[0]
    assert record.verdict == "holds" and record.effect == pytest.approx(0.1) and record.n == 12
    rising = changes_by_hand().assign(own=-0.05)  # blurring lowers the explained class
    settings = heatmaps.figure1_settings({"birds": rising})
    assert settings.verdict.tolist() == ["does not hold", "holds", "holds"]
    assert heatmaps.claim_records({"wang-fig1": settings}, "birds")[0].verdict == "partly holds"
    few = heatmaps.figure1_settings({"birds": changes_by_hand(n=5)})  # below MIN_IMAGES
    assert few.verdict.tolist() == ["not resolved"] * 3
    assert heatmaps.claim_records({"wang-fig1": few}, "birds")[0].verdict == "not resolved"


def test_figure4_settings_by_hand():
    rows = []
    for image in range(10):
        for method in ("Grad-CAM", "XGrad-CAM"):
            for contrast, r, negative in (("original", 0.9, 0.6), ("weighted", -0.8, 0.5)):
                rows.append({"input": "birds", "image": image, "method": method,
                             "contrast": contrast, "r": r, "negative_t1": negative,
                             "negative_t2": negative + 0.2})
    settings = heatmaps.figure4_settings(pd.DataFrame(rows))
    similar = settings["wang-fig4-similar"]
    assert similar.method.tolist() == ["Grad-CAM"]  # XGrad-CAM is the reports' method
    assert similar.effect.item() == pytest.approx(1.7) and similar.verdict.item() == "holds"
    reports = settings["reports-fig4"]
    assert len(reports) == 4 and (reports.verdict == "holds").all()
    negative = settings["reports-negative-areas"]
    assert negative.effect.item() == pytest.approx(0.7) and negative.verdict.item() == "holds"


def test_figure5_settings_by_hand():
    identities = pd.DataFrame({"input": "birds", "image": range(10), "r1": 0.95, "r2": 0.93,
                               "r3": 0.92, "max_sum": [1e-7] * 9 + [2e-3]})
    settings = heatmaps.figure5_settings(identities)
    mean = settings["wang-fig5-mean"]
    assert mean.effect.item() == pytest.approx(0.9333333) and mean.verdict.item() == "holds"
    inverse = settings["wang-fig5-max-inverse"]  # one image of ten breaks the identity
    assert inverse.effect.item() == 2e-3 and inverse.verdict.item() == "does not hold"
    records = heatmaps.claim_records(settings, "birds")
    assert [r.verdict for r in records] == ["holds", "does not hold", "partly holds"]
    assert heatmaps.judged_identity(1e-7) == "holds"
