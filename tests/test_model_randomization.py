"""Sanity checks: the randomisation schedule, and Spearman / SSIM against scipy and scikit-image."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity
from test_explainers import random_images, single_thread, tiny_cnn  # noqa: F401 (fixture)

import whynot
from whynot.metrics.model_randomization import model_randomization, randomizable_layers, randomized_models, spearman, ssim


def test_layers_are_randomised_from_the_top_cumulatively_or_alone():
    model = tiny_cnn()
    before = {name: p.clone() for name, p in model.state_dict().items()}
    assert randomizable_layers(model) == ["8", "3", "0"]  # linear, conv, conv; not the batchnorm
    cascade = list(randomized_models(model, "cascading", seed=1))
    alone = list(randomized_models(model, "independent", seed=1))
    for depth, ((name, cascaded), (same, single)) in enumerate(zip(cascade, alone)):
        assert name == same
        for layer in randomizable_layers(model):
            changed_cascade = not torch.equal(cascaded.get_submodule(layer).weight, model.get_submodule(layer).weight)
            changed_alone = not torch.equal(single.get_submodule(layer).weight, model.get_submodule(layer).weight)
            top = randomizable_layers(model).index(layer) <= depth
            assert changed_cascade == top
            assert changed_alone == (layer == name)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the model is untouched
    again = dict(randomized_models(model, "cascading", seed=1))
    assert torch.equal(again["0"].get_submodule("0").weight, cascade[-1][1].get_submodule("0").weight)
    # the top two only (the rehearsal's sanity checks): the same copies as the first two of all
    top_two = list(randomized_models(model, "cascading", seed=1, layers=2))
    assert [name for name, _ in top_two] == ["8", "3"]
    second, second_of_all = top_two[1][1], cascade[1][1]
    assert torch.equal(second.get_submodule("3").weight, second_of_all.get_submodule("3").weight)


def test_spearman_matches_scipy_with_ties():
    generator = torch.Generator().manual_seed(0)
    first = torch.randint(0, 5, (3, 6, 6), generator=generator).double()  # many ties
    second = torch.randn(3, 6, 6, generator=generator, dtype=torch.float64)
    ours = spearman(first, second)
    for i in range(3):
        assert ours[i].item() == pytest.approx(spearmanr(first[i].flatten(), second[i].flatten()).statistic)


def test_ssim_matches_scikit_image():
    generator = torch.Generator().manual_seed(1)
    first = torch.rand(2, 20, 17, generator=generator, dtype=torch.float64)
    second = first + 0.3 * torch.rand(2, 20, 17, generator=generator, dtype=torch.float64)
    ours = ssim(first, second)
    for i in range(2):
        a, b = (x[i].numpy() for x in (first, second))
        a, b = ((x - x.min()) / (x.max() - x.min()) for x in (a, b))
        assert ours[i].item() == pytest.approx(structural_similarity(a, b, data_range=1.0))
    assert ssim(first, first).allclose(torch.ones(2, dtype=torch.float64))


def test_gradcam_fails_to_stay_the_same_when_the_model_is_randomised():
    model, images = tiny_cnn(), random_images(batch=3, size=8)

    def explain(net, x):
        return whynot.explain(net, x, method="gradcam", layer="3", classes=0)[:, 0]

    table = model_randomization(model, images, explain, mode="cascading", seed=0)
    assert list(table.columns) == ["layer", "depth", "image", "spearman", "ssim"]
    assert len(table) == 3 * 3 and np.isfinite(table.spearman).all()
    assert table.groupby("depth").spearman.mean().iloc[-1] < 0.9  # everything random: the maps changed


def test_bad_mode_is_refused():
    with pytest.raises(ValueError, match="mode must be"):
        next(randomized_models(tiny_cnn(), "top-down"))
