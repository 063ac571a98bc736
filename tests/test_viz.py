"""Figures: the bwr overlay is centred at zero and symmetric; grids have one panel per cell."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from whynot.viz import explanation_grid, overlay, symmetric_norm  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_overlay_uses_bwr_centred_at_zero_and_symmetric():
    image = torch.rand(3, 8, 8)
    heatmap = torch.linspace(-1.0, 3.0, 16).view(4, 4)  # layer resolution, asymmetric range
    figure, ax = plt.subplots()
    shown = overlay(ax, image, heatmap, alpha=0.4)
    assert shown.get_cmap().name == "bwr"
    assert shown.norm.vcenter == 0 and shown.norm.vmin == -3 and shown.norm.vmax == 3
    assert shown.norm(0.0) == 0.5 and shown.norm(3.0) == 1.0 and shown.norm(-3.0) == 0.0
    assert shown.get_alpha() == 0.4
    assert shown.get_extent() == ax.images[0].get_extent() == [-0.5, 7.5, 7.5, -0.5], "stretched over the image"


def test_an_all_zero_map_gets_a_valid_norm():
    norm = symmetric_norm(torch.zeros(4, 4))
    assert norm.vmin == -1 and norm.vmax == 1 and norm(0.0) == 0.5


def test_overlay_rejects_swapped_arguments():
    figure, ax = plt.subplots()
    with pytest.raises(ValueError, match="image \\[3, H, W\\] and heatmap \\[h, w\\]"):
        overlay(ax, torch.rand(8, 8), torch.rand(3, 8, 8))


def test_grid_has_a_row_per_image_and_class_and_a_column_per_method():
    images = torch.rand(2, 3, 8, 8)
    maps = {"gradcam": torch.randn(2, 3, 8, 8), "la": torch.randn(2, 3, 4, 4)}
    classes = torch.tensor([[0, 2, 1], [1, 0, 2]])
    figure = explanation_grid(images, maps, class_names=["cat", "dog", "cup"], classes=classes)
    axes = figure.axes
    assert len(axes) == 2 * 3 * (1 + 2)
    assert [ax.get_title() for ax in axes[:3]] == ["image 0: cat", "gradcam", "la"]
    assert axes[3 * 3].get_title() == "image 1: dog"  # row 3: image 1, its first class
    heatmap = axes[1].images[1]
    assert heatmap.norm.vmax == pytest.approx(maps["gradcam"][0, 0].abs().max().item())


def test_grid_rejects_maps_of_different_targets():
    with pytest.raises(ValueError, match="\\[B, K, h, w\\]"):
        explanation_grid(torch.rand(2, 3, 8, 8), {"a": torch.rand(2, 3, 8, 8), "b": torch.rand(2, 1, 8, 8)})


def test_overlay_array_blends_white_at_zero_and_red_at_the_maximum():
    from whynot.viz import overlay_array

    image = torch.full((3, 8, 8), 0.2)
    heatmap = torch.zeros(4, 4)
    heatmap[0, 0] = 1.0
    picture = overlay_array(image, heatmap, alpha=0.5)
    assert picture.shape == (8, 8, 3) and picture.dtype.name == "uint8"
    white = (0.5 * 0.2 + 0.5 * 1.0) * 255
    assert abs(int(picture[7, 7, 0]) - white) <= 3 and abs(int(picture[7, 7, 2]) - white) <= 3
    assert picture[0, 0, 0] > picture[0, 0, 2], "the positive corner is red"
