"""whynot.data.plots: the data chapter's figures and explorer."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from whynot.data import plots

PART_NAMES = ("head", "wing")


def masks(n: int = 2, size: int = 4) -> torch.Tensor:
    m = torch.zeros(n, 2, size, size, dtype=torch.bool)
    m[:, 0, 0, 0] = True
    m[:, 1, 1, 1] = True
    return m


def test_part_map_and_overlay_paint_the_parts():
    part_masks = masks()[0]
    painted = plots.part_map(part_masks)
    assert painted[0, 0].tolist() == list(plots.PART_COLOURS[0])
    assert painted[1, 1].tolist() == list(plots.PART_COLOURS[1])
    assert painted[2, 2].tolist() == [1.0, 1.0, 1.0]
    image = torch.full((3, 4, 4), 0.5)
    overlay = plots.part_overlay(image, part_masks, alpha=1.0)
    np.testing.assert_allclose(overlay[2, 2], [0.5, 0.5, 0.5], rtol=1e-6)
    np.testing.assert_allclose(overlay[0, 0], plots.PART_COLOURS[0])
    with pytest.raises(ValueError, match="PART_COLOURS"):
        plots.part_map(torch.zeros(len(plots.PART_COLOURS) + 1, 4, 4, dtype=torch.bool))


def test_figures_have_one_panel_per_image_or_model():
    images = torch.rand(2, 3, 4, 4)
    fig = plots.plot_samples(images, masks(), ["a-b-c", "d-e-f"], PART_NAMES)
    assert len(fig.axes) == 4 and fig.axes[0].get_title() == "a\nb\nc"
    fig = plots.plot_p2_histograms({"m1": torch.tensor([0.05, 0.2]), "m2": torch.tensor([0.3, 0.4])})
    assert [ax.get_title().split("\n")[1] for ax in fig.axes] == ["50% with $p_2 > 0.1$", "100% with $p_2 > 0.1$"]
    probs = torch.tensor([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]])
    names = ["x", "a name longer than twenty", "z"]
    fig = plots.plot_top_predictions(images, probs, names, ["one", "two"], k=2)
    assert [ax.xaxis.get_label().get_text() for ax in fig.axes] == [
        "70% a name longer than\u2026\n20% z",
        "60% x\n30% a name longer than\u2026",
    ]
    plt.close("all")


def test_dataset_explorer_takes_the_first_samples_of_each_class():
    labels = torch.tensor([0, 1, 0, 1, 0])
    box = plots.dataset_explorer(torch.rand(5, 3, 4, 4), masks(5), labels, ["a", "b"], samples_per_class=2, scale=2)
    by_class, by_sample = box.children[0].children
    assert list(by_class.options) == ["a", "b"] and list(by_sample.options) == ["1", "2"]
    assert [len(stack.children) for stack in box.children[1].children] == [2, 2]
    with pytest.raises(ValueError, match=r"classes \['b'\] have fewer than 3 images"):
        plots.dataset_explorer(torch.rand(5, 3, 4, 4), masks(5), labels, ["a", "b"], samples_per_class=3)
