"""The dominating-classes analysis (whynot.experiments.dominating) on tiny hand-made tables whose
trend is known, and its similarity rows on a real model."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from whynot.experiments import dominating


def test_rank_correlation_of_a_monotone_pair_is_one_and_needs_three_rows():
    rho, low, high = dominating.rank_correlation(np.arange(10.0), np.arange(10.0) ** 3)
    assert rho == pytest.approx(1.0) and low == pytest.approx(1.0) and high == pytest.approx(1.0)
    rho, _, _ = dominating.rank_correlation(np.arange(5.0), -np.arange(5.0))
    assert rho == pytest.approx(-1.0)
    assert all(math.isnan(v) for v in dominating.rank_correlation([1.0, 2.0], [2.0, 1.0]))


def test_rank_correlation_uses_average_ranks_for_ties():
    # ranks x: 1, 2.5, 2.5, 4; y: 1, 2, 3, 4 -> Pearson of the ranks = 4.5 / sqrt(4.5 * 5)
    rho, _, _ = dominating.rank_correlation([0.0, 1.0, 1.0, 2.0], [0.0, 1.0, 2.0, 3.0])
    assert rho == pytest.approx(4.5 / math.sqrt(4.5 * 5))


def blurring_rows(p1: list[float], advantage: list[float]) -> pd.DataFrame:
    """A chapter-04 table with two plain cells per image (kept positive and negative) whose
    advantage of weighted over logit is ``advantage``, and equal rows that must be ignored."""
    rows = []
    for image, (p, a) in enumerate(zip(p1, advantage)):
        for kept, sign in dominating.KEPT_SIGN.items():
            for contrast, r in (("logit", 0.5), ("weighted", 0.5 + sign * a)):
                base = dict(model="m", image=image, p1=p, p2=1 - p, baseline="blur", method="gradcam",
                            target="t1", kept=kept, contrast=contrast, r=r)
                rows += [dict(base, variant="plain"), dict(base, variant="equal", r=0.0)]
        rows.append(dict(model="m", image=image, p1=p, p2=1 - p, variant="unmasked", r=0.3))
    return pd.DataFrame(rows)


def test_table1_advantage_is_signed_by_kept_and_read_from_plain_cells():
    frame = dominating.table1_per_image(blurring_rows([0.6, 0.9], [0.2, -0.1]))
    assert frame.value.tolist() == pytest.approx([0.2, -0.1])
    assert frame.p1.tolist() == pytest.approx([0.6, 0.9]) and set(frame.model) == {"m"}


def localization_rows(p1: list[float], gain: list[float]) -> pd.DataFrame:
    rows = []
    for image, (p, g) in enumerate(zip(p1, gain)):
        for method in ("gradcam", "la"):
            for contrast, mass in (("logit", 0.3), ("weighted", 0.3 + g), ("max", 0.9)):
                for rank in (1, 2):
                    rows.append(dict(model="m", image=image, p1=p, p2=1 - p, method=method,
                                     contrast=contrast, rank=rank, part="head" if image else "",
                                     part_pixels=9, mass=mass if rank == 1 else 0.0))
    return pd.DataFrame(rows)


def test_localization_advantage_uses_rank_one_maps_of_scored_images():
    frame = dominating.localization_per_image(localization_rows([0.5, 0.7, 0.8], [0.4, 0.2, -0.1]))
    assert frame.image.tolist() == [1, 2]  # image 0 has no single differing part
    assert frame.value.tolist() == pytest.approx([0.2, -0.1])


def test_trends_and_record_say_which_part_holds_where():
    p1 = np.linspace(0.5, 0.99, 30)
    similarity = pd.DataFrame({"model": "a", "image": range(30), "p1": p1, "p2": 1 - p1,
                               "value": p1})  # more alike as p1 - p2 grows: "reduced" holds
    table1 = dominating.table1_per_image(blurring_rows(list(p1), list(0.5 - p1)))  # shrinks: holds
    localization = pd.DataFrame({"model": "a", "image": range(30), "p1": p1, "p2": 1 - p1,
                                 "value": p1 - 0.5})  # grows with p1: does not hold
    table1 = table1.assign(model="a")
    found = dominating.trends(similarity, table1, localization, n_resamples=200)
    verdicts = found.set_index("part").verdict
    assert verdicts.to_dict() == {"reduced to the original": "holds", "worse on Table 1": "holds",
                                  "worse on part localization": "does not hold"}
    record = dominating.record(found)
    assert record.claim == "reports-dominating" and record.verdict == "partly holds"
    assert "worse on part localization: does not hold on a" in record.why
    assert record.n == 3


def test_trend_of_noise_is_not_resolved_and_terciles_order_the_images():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"model": "a", "image": range(12), "p1": np.linspace(0.4, 0.95, 12),
                          "p2": 0.05, "value": rng.normal(size=12)})
    found = dominating.trends(similarity=frame, n_resamples=200)
    assert found.verdict.tolist() == ["not resolved"] and found.images.tolist() == [12]
    thirds = dominating.terciles(frame.assign(value=np.arange(12.0)))
    assert thirds.loc["a"].tolist() == pytest.approx([1.5, 5.5, 9.5])


def test_similarity_rows_equal_the_correlation_of_separately_explained_maps():
    import whynot
    from whynot.metrics.model_randomization import pearson
    from whynot.models.zoo import load_model

    model = load_model("synth_vgg")
    images = torch.rand(3, 3, 56, 56, generator=torch.Generator().manual_seed(0))
    rows = dominating.similarity_rows(model, images, start=5, methods=("la",))
    classes = model(images).argmax(dim=1, keepdim=True)
    weighted, logit = (whynot.explain(model, images, method="la", classes=classes, contrast=c)[:, 0]
                       for c in ("weighted", "logit"))
    assert rows.image.tolist() == [5, 6, 7] and rows.t1.tolist() == classes[:, 0].tolist()
    assert rows.similarity.to_numpy() == pytest.approx(pearson(weighted, logit).double().numpy(), abs=1e-5)
    assert (rows.p1 >= rows.p2).all()
