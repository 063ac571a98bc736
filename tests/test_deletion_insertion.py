"""Deletion and insertion: a 4-pixel image by hand, batching, ties, and torchcam as a cross-check."""
from __future__ import annotations

import contextlib
import math

import pytest
import torch
from test_explainers import random_images, single_thread, tiny_cnn  # noqa: F401 (fixture)
from torch import nn
from torchcam.metrics import DeletionInsertionMetric

from whynot.metrics import deletion, insertion
from whynot.metrics.removal_curves import default_substrate, pixel_ranks


class PixelSum(nn.Module):
    """Logits (w . x, 0) with x the channel-summed 2 x 2 image: p_0 = sigmoid(w . x)."""

    def __init__(self, weights):
        super().__init__()
        self.weights = torch.tensor(weights, dtype=torch.float64)

    def forward(self, images):
        return torch.stack([(images.sum(dim=1).flatten(1) * self.weights).sum(dim=1), images.new_zeros(len(images))], 1)


def sigmoid(z):
    return 1 / (1 + math.exp(-z))


def test_four_pixel_deletion_and_insertion_by_hand():
    model = PixelSum([2.0, -1.0, 1.0, 0.5])
    image = torch.full((1, 3, 2, 2), 1 / 3, dtype=torch.float64)  # each pixel sums to 1 over channels
    maps = torch.tensor([[[0.1, 0.9], [0.5, 0.3]]], dtype=torch.float64)  # order: 1, 2, 3, 0
    zeros = torch.zeros_like(image)
    removed = deletion(model, image, maps, classes=0, substrate=zeros, step=1)
    # w . x after removing pixels 1, 2, 3, 0 in turn: 2.5, 3.5, 2.5, 2.0, 0.0
    expected = [sigmoid(z) for z in (2.5, 3.5, 2.5, 2.0, 0.0)]
    torch.testing.assert_close(removed.scores[0], torch.tensor(expected, dtype=torch.float64))
    torch.testing.assert_close(removed.fractions, torch.tensor([0, 0.25, 0.5, 0.75, 1], dtype=torch.float64))
    auc = sum(0.25 * (a + b) / 2 for a, b in zip(expected, expected[1:]))
    assert removed.auc.item() == pytest.approx(auc)
    inserted = insertion(model, image, maps, classes=0, substrate=zeros, step=1)
    # inserting pixels 1, 2, 3, 0 in turn into zeros: 0, -1, 0, 0.5, 2.5
    torch.testing.assert_close(
        inserted.scores[0], torch.tensor([sigmoid(z) for z in (0.0, -1.0, 0.0, 0.5, 2.5)], dtype=torch.float64)
    )
    # step 3 of 4 pixels: points after 0, 3 and all 4 pixels; the last interval is a third as wide.
    coarse = deletion(model, image, maps, classes=0, substrate=zeros, step=3)
    torch.testing.assert_close(coarse.fractions, torch.tensor([0, 0.75, 1], dtype=torch.float64))
    torch.testing.assert_close(coarse.scores[0], torch.tensor(expected[:1] + expected[3:], dtype=torch.float64))


def test_ties_go_to_the_earlier_pixel():
    assert pixel_ranks(torch.tensor([[[1.0, 2.0], [2.0, 1.0]]])).tolist() == [[2, 0, 1, 3]]


def test_batched_curves_do_not_depend_on_the_chunk_size():
    model, images = tiny_cnn(), random_images(batch=3, size=8)
    maps = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    classes = torch.tensor([0, 3, 1])
    one = deletion(model, images, maps, classes, step=5, batch_size=1)
    many = deletion(model, images, maps, classes, step=5, batch_size=500)
    torch.testing.assert_close(one.scores, many.scores)
    assert one.scores.shape == (3, 14)  # ceil(64 / 5) + 1 points
    torch.testing.assert_close(one.scores[:, 0], model(images).softmax(1)[torch.arange(3), classes])


class FixedMaps:
    """torchcam's CAM-extractor protocol around precomputed maps."""

    def __init__(self, model, maps):
        self.model, self.maps = model, maps

    def __call__(self, class_idx=None, scores=None, normalized=True, **kwargs):
        return [self.maps]

    def fuse_cams(self, cams):
        return cams[0]

    def _hooks_off(self):
        return contextlib.nullcontext()


def test_aucs_match_torchcam():
    model, images = tiny_cnn(), random_images(batch=4, size=10)
    maps = torch.rand(4, 10, 10, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    classes = [0, 2, 4, 1]
    reference = DeletionInsertionMetric(
        FixedMaps(model, maps), lambda logits: logits.softmax(-1), steps=100, baseline=default_substrate
    )
    reference.update(images, class_idx=classes)
    expected = reference.summary()
    assert deletion(model, images, maps, classes).auc.mean().item() == pytest.approx(expected["deletion_auc"])
    assert insertion(model, images, maps, classes).auc.mean().item() == pytest.approx(expected["insertion_auc"])


@pytest.mark.parametrize("maps_shape, classes, match", [((2, 4, 4), [0], "maps must be"), ((1, 8, 8), [0, 1, 2], "classes")])
def test_bad_inputs_name_the_fix(maps_shape, classes, match):
    images = random_images(batch=1, size=8)
    with pytest.raises(ValueError, match=match):
        deletion(tiny_cnn(), images, torch.rand(maps_shape, dtype=torch.float64), classes)
