"""Targets: class selection, contrast cotangents, scores, and the atom decomposition."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from whynot import targets
from whynot.targets import CONTRASTS, contrast_scores, cotangents, decompose, select_classes, strongest_other

LOGITS = torch.tensor([[2.0, 1.0, 0.0, 3.0], [0.0, 5.0, 4.0, -1.0]], dtype=torch.float64)


def test_select_classes_forms():
    assert select_classes(LOGITS).tolist() == [[3], [1]]
    assert select_classes(LOGITS, topk=3).tolist() == [[3, 0, 1], [1, 2, 0]]
    assert select_classes(LOGITS, classes=2).tolist() == [[2], [2]]
    assert select_classes(LOGITS, classes=[0, 3]).tolist() == [[0], [3]]
    assert select_classes(LOGITS, classes=[[0, 1], [2, 2]]).tolist() == [[0, 1], [2, 2]]
    assert select_classes(LOGITS, classes=torch.tensor([1, 0])).dtype == torch.long


def test_strongest_other_is_top1_or_top2_when_the_target_is_top1():
    assert strongest_other(LOGITS, torch.tensor([[3, 0], [1, 3]])).tolist() == [[0, 3], [2, 1]]


def test_cotangents_closed_forms():
    y = LOGITS[:1]
    t = torch.tensor([[0]])
    p = y.softmax(1)[0]
    alpha = torch.tensor([0.0, 1.0, 0.0, 3.0]).exp() * torch.tensor([0.0, 1, 1, 1], dtype=torch.float64)
    alpha = alpha / alpha.sum()
    e0 = torch.tensor([1.0, 0, 0, 0], dtype=torch.float64)
    torch.testing.assert_close(cotangents(y, t, "logit")[0, 0], e0)
    torch.testing.assert_close(cotangents(y, t, "softmax")[0, 0], p[0] * (e0 - p))
    torch.testing.assert_close(cotangents(y, t, "weighted")[0, 0], e0 - alpha)
    torch.testing.assert_close(cotangents(y, t, "mean")[0, 0], torch.tensor([1, -1 / 3, -1 / 3, -1 / 3], dtype=torch.float64))
    torch.testing.assert_close(cotangents(y, t, "max")[0, 0], torch.tensor([1.0, 0, 0, -1], dtype=torch.float64))


def test_softmax_cotangent_is_the_scaled_weighted_one_and_the_gradient_of_p_t():
    classes = select_classes(LOGITS, topk=4)
    p_t = LOGITS.softmax(1).gather(1, classes)
    torch.testing.assert_close(
        cotangents(LOGITS, classes, "softmax"), (p_t * (1 - p_t))[..., None] * cotangents(LOGITS, classes, "weighted")
    )
    y = LOGITS.clone().requires_grad_()
    (gradient,) = torch.autograd.grad(y.softmax(1)[0, 2], y)
    torch.testing.assert_close(cotangents(LOGITS, torch.tensor([[2], [0]]), "softmax")[0, 0], gradient[0])


def test_contrast_scores_on_the_explained_image_are_the_contrasts():
    classes = torch.tensor([[0, 1], [3, 2]])
    scores = {name: contrast_scores(LOGITS[:, None], LOGITS, classes, name)[:, 0] for name in CONTRASTS}
    torch.testing.assert_close(scores["logit"], LOGITS.gather(1, classes))
    torch.testing.assert_close(scores["softmax"], LOGITS.softmax(1).gather(1, classes))
    torch.testing.assert_close(scores["max"], torch.tensor([[-1.0, -2.0], [-6.0, -1.0]], dtype=torch.float64))
    torch.testing.assert_close(scores["mean"], torch.tensor([[2 - 4 / 3, 1 - 5 / 3], [-1 - 3, 4 - 4 / 3]], dtype=torch.float64))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    batch=st.integers(1, 3),
    num_classes=st.integers(2, 9),
    data=st.data(),
    scale=st.sampled_from([0.1, 1.0, 10.0, 40.0]),
)
def test_decomposition_reconstructs_every_cotangent(seed, batch, num_classes, data, scale):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, num_classes, generator=generator, dtype=torch.float64) * scale
    k = data.draw(st.integers(1, num_classes))
    classes = torch.randint(num_classes, (batch, k), generator=generator)
    decomposition = decompose(logits, classes, CONTRASTS)
    for contrast in CONTRASTS:
        rebuilt = torch.einsum("bka,abc->bkc", decomposition.coefficients[contrast], decomposition.atoms)
        torch.testing.assert_close(rebuilt, cotangents(logits, classes, contrast), atol=1e-9, rtol=1e-7)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_top_k_needs_k_plus_two_atoms_for_all_contrasts(k):
    logits = torch.randn(4, 10, generator=torch.Generator().manual_seed(k))
    assert len(decompose(logits, select_classes(logits, topk=k), ("logit", "weighted", "mean", "max")).atoms) == k + 2
    assert len(decompose(logits, select_classes(logits, topk=k), CONTRASTS).atoms) == k + 2
    assert len(decompose(logits, select_classes(logits, topk=k), ("logit",)).atoms) == k
    # top-1: s* (the runner-up) is not a target, so it is an atom of its own
    assert len(decompose(logits, select_classes(logits, topk=1), ("max",)).atoms) == 2


def test_near_one_hot_targets_get_an_exact_weighted_atom():
    logits = torch.tensor([[30.0, 0.0, 1.0], [1.0, 2.0, 0.0]])
    classes = torch.tensor([[0], [0]])
    decomposition = decompose(logits, classes, ("weighted",))
    # image 0: 1 - p_0 ~ 1e-13 -> one exact atom e_0 - alpha; image 1: e_0 and p
    assert decomposition.atoms.shape[0] == 2
    alpha = torch.tensor([0.0, 0.0, 1.0]).exp() * torch.tensor([0.0, 1.0, 1.0])
    torch.testing.assert_close(decomposition.atoms[0, 0], torch.tensor([1.0, 0, 0]) - alpha / alpha.sum())
    torch.testing.assert_close(decomposition.coefficients["weighted"][0, 0], torch.tensor([1.0, 0.0]))
    assert targets.WEIGHTED_FALLBACK_BELOW == 1e-3
