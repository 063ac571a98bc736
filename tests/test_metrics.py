"""Metrics on hand-computed cases: a 4-pixel image, a known mask, the expected values."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from whynot.metrics import part_mass, pointing_game, relative_probability

# A 2 x 2 map and a part mask covering its top row.
MAP = torch.tensor([[3.0, -1.0], [1.0, 0.0]])
TOP_ROW = torch.tensor([[True, True], [False, False]])


def test_relative_probability_by_hand():
    # y_t1 - y_t2 = log 3: the pair's probabilities are 3/4 and 1/4, whatever the other logits.
    logits = torch.tensor([[math.log(3), 0.0, 5.0], [0.0, 100.0, 100.0 + math.log(4)]])
    pairs = torch.tensor([[0, 1], [2, 1]])
    torch.testing.assert_close(relative_probability(logits, pairs), torch.tensor([[0.75, 0.25], [0.8, 0.2]]))


def test_relative_probability_of_masked_four_pixel_images_by_hand():
    # A linear "model" y_c = sum of the pixels of channel c over a 2 x 2 image.
    images = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 2.0]], [[0.5, 0.5], [0.0, 0.0]]]])
    keep = torch.tensor([[True, False], [False, True]])
    masked = images * keep  # zeros baseline
    logits = masked.sum(dim=(-2, -1))  # y = (1, 2, 0.5)
    expected = torch.tensor([[math.exp(2) / (math.exp(2) + math.exp(1)), math.exp(1) / (math.exp(2) + math.exp(1))]])
    torch.testing.assert_close(relative_probability(logits, torch.tensor([[1, 0]])), expected)


def test_relative_probability_refuses_a_wrong_pair_shape():
    with pytest.raises(ValueError, match=r"\[\.\.\., 2\]"):
        relative_probability(torch.zeros(3, 5), torch.zeros(3, 3, dtype=torch.long))


def test_part_mass_by_hand():
    # positive mass 3 + 1 = 4, of which 3 lies in the top row.
    assert part_mass(MAP, TOP_ROW).item() == pytest.approx(0.75)
    assert part_mass(MAP, ~TOP_ROW).item() == pytest.approx(0.25)
    assert part_mass(-MAP, TOP_ROW).item() == pytest.approx(1.0)  # only the -1 pixel is positive
    assert torch.isnan(part_mass(torch.zeros(2, 2), TOP_ROW))  # no positive mass: undefined


def test_part_mass_of_a_uniform_map_is_the_part_share_and_batches_broadcast():
    masks = torch.zeros(3, 4, 4, dtype=torch.bool)
    masks[0, :1], masks[1, :2], masks[2, :, :1] = True, True, True
    torch.testing.assert_close(part_mass(torch.ones(3, 4, 4), masks), torch.tensor([0.25, 0.5, 0.25]))
    many = part_mass(torch.ones(3, 5, 4, 4), masks[:, None])  # five maps per image
    assert many.shape == (3, 5)


def test_part_mass_needs_boolean_masks():
    with pytest.raises(ValueError, match="boolean"):
        part_mass(MAP, TOP_ROW.float())


def test_pointing_game_by_hand():
    assert pointing_game(MAP, TOP_ROW).item()  # the maximum 3 is at (0, 0)
    assert not pointing_game(MAP, ~TOP_ROW).item()
    assert pointing_game(MAP, ~TOP_ROW, tolerance=1).item()  # (1, 0) is one pixel away
    corner = torch.tensor([[False, False], [False, True]])
    assert not pointing_game(MAP, corner, tolerance=1).item()  # sqrt(2) away
    assert pointing_game(MAP, corner, tolerance=1.5).item()
    assert not pointing_game(MAP, torch.zeros(2, 2, dtype=torch.bool), tolerance=10).item()


def test_pointing_game_ties_go_to_the_first_maximum():
    flat = torch.zeros(2, 2)
    assert pointing_game(flat, TOP_ROW).item() and not pointing_game(flat, ~TOP_ROW).item()


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0, 6))
def test_pointing_game_matches_a_brute_force_distance(seed, tolerance):
    generator = torch.Generator().manual_seed(seed)
    maps = torch.randn(4, 7, 9, generator=generator)
    masks = torch.rand(4, 7, 9, generator=generator) < 0.1
    for map_, mask in zip(maps, masks):
        row, col = divmod(int(map_.argmax()), 9)
        distances = [math.hypot(r - row, c - col) for r, c in mask.nonzero().tolist()]
        expected = bool(distances) and min(distances) <= tolerance
        assert pointing_game(map_, mask, tolerance).item() == expected


# --- the image-and-map metrics take what whynot.explain returns --------------------------------
def _explained(topk=2, contrast="logit"):
    import whynot
    from test_explainers import random_images, tiny_cnn

    model, images = tiny_cnn(seed=3), random_images(batch=3, size=8, seed=5)
    return model, images, whynot.explain(model, images, method="gradcam", layer="3", topk=topk,
                                         contrast=contrast, return_explanation=True)


def test_k_maps_per_image_score_like_k_separate_calls():
    from whynot.metrics import average_drop, deletion, insertion

    model, images, ex = _explained(topk=2)
    for metric in (deletion, insertion):
        together = metric(model, images, ex.maps, ex.classes, step=8)
        assert together.auc.shape == (3, 2) and together.scores.shape[:2] == (3, 2)
        for k in range(2):
            alone = metric(model, images, ex.maps[:, k], ex.classes[:, k], step=8)
            torch.testing.assert_close(together.auc[:, k], alone.auc, rtol=0, atol=0)
            torch.testing.assert_close(together.scores[:, k], alone.scores, rtol=0, atol=0)
    drops = average_drop(model, images, ex.maps, ex.classes)
    assert drops.shape == (3, 2)
    second = average_drop(model, images, ex.maps[:, 1], ex.classes[:, 1])
    torch.testing.assert_close(drops[:, 1], second)


def test_an_explanation_and_the_predicted_class_are_defaults():
    from whynot.metrics import average_increase, deletion

    model, images, ex = _explained(topk=1)
    predicted = model(images).argmax(dim=1)
    assert torch.equal(ex.classes[:, 0], predicted)
    from_explanation = deletion(model, images, ex, step=8).auc
    from_maps = deletion(model, images, ex.maps, ex.classes, step=8).auc
    torch.testing.assert_close(from_explanation, from_maps)
    one_map = ex.maps[:, 0]  # [B, H, W] without classes: the predicted class
    torch.testing.assert_close(deletion(model, images, one_map, step=8).auc,
                               deletion(model, images, one_map, predicted, step=8).auc)
    other = (predicted + 1) % 5  # a different class gives a different score: classes are used
    assert not torch.equal(deletion(model, images, one_map, other, step=8).auc,
                           deletion(model, images, one_map, step=8).auc)
    torch.testing.assert_close(average_increase(model, images, ex),
                               average_increase(model, images, ex.maps, ex.classes))


@pytest.mark.parametrize("change, match", [
    ("contrasts", r"several contrasts \(logit, max\); pass one of them, "
                  r"e\.g\. ex\.maps\['logit'\]"),
    ("layer", r"explain with upsample=True"),
    ("images", r"one map \(or K maps\) per image"),
    ("classes", r"\[B, K\] = \[3, 2\].*Leave it out to score the predicted class"),
    ("float", r"integer class indices"),
])
def test_metric_inputs_errors_name_the_fix(change, match):
    import whynot
    from whynot.metrics import deletion

    model, images, ex = _explained(topk=2, contrast=("logit", "max"))
    maps, classes = ex.maps["logit"], ex.classes
    if change == "contrasts":
        maps, classes = ex, None
    elif change == "layer":
        maps = whynot.explain(model, images, method="gradcam", layer="3", topk=2, upsample=False)
    elif change == "images":
        maps = maps[:2]
    elif change == "classes":
        classes = classes[:, :1].repeat(1, 3)
    else:
        classes = classes.float()
    with pytest.raises(ValueError, match=match):
        deletion(model, images, maps, classes)
