"""Average Drop and Increase: a 4-pixel image by hand, and pytorch-grad-cam's confidence metrics."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pytorch_grad_cam.metrics.cam_mult_image import DropInConfidence, IncreaseInConfidence
from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget
from test_deletion_insertion import PixelSum
from test_explainers import random_images, single_thread, tiny_cnn  # noqa: F401 (fixture)

from whynot.metrics import average_drop, average_increase
from whynot.metrics.masked_confidence import explanation_mask
from whynot.models.common import NormalizedModel


def sigmoid(z):
    return 1 / (1 + math.exp(-z))


MODEL = PixelSum([2.0, -1.0, 1.0, 0.5])  # p_0 = sigmoid(w . x); no metadata: masks go to black
IMAGE = torch.full((1, 3, 2, 2), 1 / 3, dtype=torch.float64)  # every pixel sums to 1
MAP = torch.tensor([[[0.1, 0.9], [0.5, 0.3]]], dtype=torch.float64)


def test_four_pixel_drop_and_increase_by_hand():
    # min-max mask (0, 1, 0.5, 0.25): w . x = -1 + 0.5 + 0.125 = -0.375, against 2.5 unmasked
    expected = 100 * (sigmoid(2.5) - sigmoid(-0.375)) / sigmoid(2.5)
    assert average_drop(MODEL, IMAGE, MAP, 0).item() == pytest.approx(expected)
    assert average_increase(MODEL, IMAGE, MAP, 0).item() == 0
    # the top half (pixels 1 and 2) as a binary mask: w . x = -1 + 1 = 0
    assert average_drop(MODEL, IMAGE, MAP, 0, top_fraction=0.5).item() == pytest.approx(
        100 * (sigmoid(2.5) - 0.5) / sigmoid(2.5))
    # keeping pixels 0 and 2 (the negative pixel 1 goes) raises the score: w . x = 3 > 2.5
    raising = torch.tensor([[[1.0, 0.0], [0.9, 0.2]]], dtype=torch.float64)
    assert average_increase(MODEL, IMAGE, raising, 0, top_fraction=0.5).item() == 100
    assert average_drop(MODEL, IMAGE, raising, 0, top_fraction=0.5).item() == 0


def test_top_fraction_masks_by_rank_and_bad_fractions_are_refused():
    assert explanation_mask(MAP, 0.5).tolist() == [[[0.0, 1.0], [1.0, 0.0]]]
    assert explanation_mask(MAP, 0.3).sum() == 2  # ceil(0.3 * 4) pixels
    with pytest.raises(ValueError, match="top_fraction"):
        average_drop(MODEL, IMAGE, MAP, 0, top_fraction=0.0)


def test_matches_pytorch_grad_cam_on_a_normalising_model():
    net, images = tiny_cnn(width=4), random_images(batch=4, size=8)
    model = NormalizedModel(net, (0.4, 0.5, 0.6), (0.2, 0.3, 0.25), {"name": "tiny"}).eval()
    maps = torch.rand(4, 8, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    classes = model(images).argmax(1)
    targets = [ClassifierOutputSoftmaxTarget(int(c)) for c in classes]
    normalised, cams = model.normalize(images), explanation_mask(maps).numpy()
    drop = DropInConfidence()(normalised, cams, targets, net)  # max(0, Y - O), not divided by Y
    increase = IncreaseInConfidence()(normalised, cams, targets, net)
    before = model(images).softmax(1).gather(1, classes[:, None])[:, 0].detach().numpy()
    np.testing.assert_allclose(average_drop(model, images, maps, classes).numpy() * before / 100, drop, atol=1e-6)
    np.testing.assert_allclose(average_increase(model, images, maps, classes).numpy() / 100, increase)
