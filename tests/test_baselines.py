"""Baselines for removal experiments: blur against torchvision, scaling, blending by hand."""
from __future__ import annotations

import pytest
import torch
from torchvision.transforms.functional import gaussian_blur as torchvision_blur

from whynot.baselines import BASELINES, blend, blur_for, channel_mean, gaussian_blur, scaled_blur
from whynot.models.zoo import load_model


@pytest.mark.parametrize("kernel_size, sigma, size", [(25, 3.75, 56), (5, 1.0, 8), (13, 12.5, 56), (1, 2.0, 4)])
def test_separable_blur_matches_torchvision(kernel_size, sigma, size):
    images = torch.rand(2, 3, size, size + 3, generator=torch.Generator().manual_seed(0))
    expected = torchvision_blur(images, [kernel_size, kernel_size], [sigma, sigma])
    torch.testing.assert_close(gaussian_blur(images, kernel_size, sigma), expected, atol=1e-6, rtol=1e-5)


def test_blur_of_a_constant_is_the_constant_and_an_impulse_spreads_by_hand():
    torch.testing.assert_close(gaussian_blur(torch.full((1, 3, 6, 6), 0.3), 3, 1.0), torch.full((1, 3, 6, 6), 0.3))
    impulse = torch.zeros(1, 1, 5, 5)
    impulse[0, 0, 2, 2] = 1.0
    g = torch.exp(torch.tensor([-0.5, 0.0, -0.5]))
    g = g / g.sum()
    torch.testing.assert_close(gaussian_blur(impulse, 3, 1.0)[0, 0, 1:4, 1:4], g[:, None] * g[None, :])


def test_paper_blur_scales_to_the_image_size():
    assert scaled_blur(101, 15.0, 224) == (101, 15.0)
    assert scaled_blur(101, 15.0, 56) == (25, 3.75)
    assert scaled_blur(51, 50.0, 56) == (13, 12.5)
    images = torch.rand(1, 3, 56, 56)
    torch.testing.assert_close(blur_for(images, 101, 15.0), gaussian_blur(images, 25, 3.75))


@pytest.mark.parametrize("kernel_size, sigma", [(4, 1.0), (0, 1.0), (3, 0.0), (101, 15.0)])
def test_bad_blur_parameters_are_refused_with_the_fix(kernel_size, sigma):
    with pytest.raises(ValueError, match="kernel_size|sigma"):
        gaussian_blur(torch.rand(1, 3, 20, 20), kernel_size, sigma)


def test_blend_on_a_four_pixel_image_by_hand():
    images = torch.arange(12.0).view(1, 3, 2, 2)
    baseline = torch.full_like(images, -1.0)
    keep = torch.tensor([[[True, False], [False, True]]])
    expected = torch.tensor([[[0.0, -1.0], [-1.0, 3.0]], [[4.0, -1.0], [-1.0, 7.0]], [[8.0, -1.0], [-1.0, 11.0]]])
    torch.testing.assert_close(blend(images, keep, baseline), expected[None])
    several = blend(images, torch.stack([keep, ~keep], dim=1), baseline)  # [B, M, 3, H, W]
    assert several.shape == (1, 2, 3, 2, 2)
    torch.testing.assert_close(several[:, 0], expected[None])
    torch.testing.assert_close(several[:, 0] + several[:, 1], images - 1)


def test_zeros_is_the_model_mean_colour_and_channel_mean_is_per_image():
    model = load_model("synth_vgg")
    images = torch.rand(2, 3, 56, 56)
    zeros = BASELINES["zeros"](images, model)
    normalised = (zeros - torch.tensor(model.whynot_meta["mean"]).view(1, 3, 1, 1))
    assert normalised.abs().max() < 1e-6
    torch.testing.assert_close(channel_mean(images)[:, :, 0, 0], images.mean(dim=(2, 3)))
    assert BASELINES["blur"](images, model).shape == images.shape
