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
    assert [ax.get_title() for ax in axes[:3]] == ["image 0:\ncat", "gradcam", "la"]
    assert axes[3 * 3].get_title() == "image 1:\ndog"  # row 3: image 1, its first class
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


def _explanation(contrast=("logit", "softmax")):
    import whynot
    from test_explainers import random_images, tiny_cnn

    model, images = tiny_cnn(seed=3), random_images(batch=2, size=8, seed=5)
    ex = whynot.explain(model, images, method="gradcam", layer="3", topk=2, contrast=contrast,
                        return_explanation=True)
    return images, ex


def test_grid_takes_a_tensor_a_dict_or_an_explanation():
    images, ex = _explanation()
    from_tensor = explanation_grid(images, ex.maps["logit"])
    assert len(from_tensor.axes) == 2 * 2 * 2 and from_tensor.axes[1].get_title() == "map"
    from_dict = explanation_grid(images, ex.maps)
    from_explanation = explanation_grid(images, ex, class_names=[f"c{i}" for i in range(5)])
    assert [ax.get_title() for ax in from_explanation.axes[:3]] == [
        f"image 0:\nc{int(ex.classes[0, 0])}", "logit", "softmax"]  # classes taken from ex
    assert len(from_dict.axes) == len(from_explanation.axes) == 2 * 2 * 3
    with pytest.raises(ValueError, match="Explanation"):
        explanation_grid(images, [ex.maps["logit"]])


@pytest.mark.parametrize("scale", ["panel", "row", "all", 0.5])
def test_colour_scales_are_per_panel_per_row_or_shared(scale):
    import numpy as np

    images, ex = _explanation()
    figure = explanation_grid(images, ex.maps, scale=scale)
    halfranges = [[ax.images[1].norm.vmax for ax in figure.axes[r * 3 + 1:r * 3 + 3]]
                  for r in range(4)]
    own = [[ex.maps[c][b, k].abs().max().item() for c in ("logit", "softmax")]
           for b in range(2) for k in range(2)]
    if scale == "panel":
        expected = own
    elif scale == "row":  # the softmax map, p_t (1 - p_t) times the weighted one, looks faint
        expected = [[max(row)] * 2 for row in own]
    elif scale == "all":
        expected = [[max(max(row) for row in own)] * 2] * 4
    else:
        expected = [[0.5] * 2] * 4
    np.testing.assert_allclose(halfranges, expected, rtol=1e-6)
    if scale != "panel":
        assert halfranges[0][0] == halfranges[0][1]


@pytest.mark.parametrize("scale, bars", [("panel", 8), ("row", 4), ("all", 1)])
def test_colorbars_one_per_scale(scale, bars):
    images, ex = _explanation()
    figure = explanation_grid(images, ex.maps, scale=scale, colorbar=True)
    assert len(figure.axes) == 2 * 2 * 3 + bars


def test_bad_scale_is_refused():
    images, ex = _explanation()
    with pytest.raises(ValueError, match="scale must be one of"):
        explanation_grid(images, ex.maps, scale="global")


def test_save_helpers_write_atomically(tmp_path):
    import numpy as np
    from PIL import Image

    from whynot.viz import overlay_array, save_figure, save_overlay

    images, ex = _explanation()
    save_figure(explanation_grid(images, ex), tmp_path / "grid.png")
    assert Image.open(tmp_path / "grid.png").format == "PNG"
    save_overlay(tmp_path / "one.png", images[0], ex.maps["logit"][0, 0])
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "one.png")),
                                  overlay_array(images[0], ex.maps["logit"][0, 0]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png", "one.png"]  # no temp files
    with pytest.raises(ValueError, match="no suffix"):
        save_figure(explanation_grid(images, ex), tmp_path / "grid")


def test_overlay_array_with_a_fixed_scale():
    import numpy as np

    from whynot.viz import overlay_array

    image = torch.ones(3, 2, 2)
    heatmap = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    # half-range 2: the value 1 sits at 0.75 of bwr (a lighter red than at the maximum)
    light = overlay_array(image, heatmap, alpha=1.0, halfrange=2.0)
    full = overlay_array(image, heatmap, alpha=1.0)
    assert tuple(full[0, 0]) != tuple(light[0, 0]) and np.array_equal(light[1, 1], full[1, 1])


def test_overlay_array_shows_small_images_at_the_requested_size():
    from whynot import viz

    image, heatmap = torch.rand(3, 56, 56), torch.randn(7, 7)
    assert viz.overlay_array(image, heatmap).shape == (56, 56, 3)
    assert viz.overlay_array(image, heatmap, size=168).shape == (168, 168, 3)
