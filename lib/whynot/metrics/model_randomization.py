"""Sanity checks (Adebayo et al., 2018): do maps change when the model's weights are randomised?"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterator

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from whynot.utils import min_max

DIRECTION = "lower"  # similarity to the trained model's maps: a method that passes drops towards 0
MODES = ("cascading", "independent")
SSIM_WINDOW = 7  # scikit-image's default
SSIM_K1, SSIM_K2 = 0.01, 0.03


# Their reset_parameters() is not random (weights 1, biases 0), so they keep their trained weights.
NORMALIZATION = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)


def randomizable_layers(model: nn.Module) -> list[str]:
    """Modules with their own weights and a random re-initialisation, from the output down."""
    names = [
        name for name, module in model.named_modules()
        if name and hasattr(module, "reset_parameters") and not isinstance(module, NORMALIZATION)
        and any(True for _ in module.parameters(recurse=False))
    ]
    return names[::-1]


def randomized_models(model: nn.Module, mode: str = "cascading", seed: int = 0,
                      layers: int | None = None) -> Iterator[tuple[str, nn.Module]]:
    """``(layer, model copy)`` with weights re-initialised from the top: cumulatively or one at a
    time, for the top ``layers`` layers (None: every one).

    ``cascading``: the copy for layer ``l`` has ``l`` and every layer above it re-initialised;
    ``independent``: only ``l``. Re-initialisation is the layer's own ``reset_parameters`` under
    ``torch.manual_seed(seed + depth)``, so reruns give the same weights; ``model`` is untouched.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}.")
    names = randomizable_layers(model)
    if not names:
        raise ValueError("the model has no layer with reset_parameters() and weights to randomise.")
    cascade = copy.deepcopy(model)
    for depth, name in enumerate(names[:layers]):
        target = cascade if mode == "cascading" else copy.deepcopy(model)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + depth)
            target.get_submodule(name).reset_parameters()
        yield name, target if mode == "independent" else copy.deepcopy(cascade)


def spearman(first: Tensor, second: Tensor) -> Tensor:
    """Spearman rank correlation of each pair of maps ``[..., H, W]`` (average ranks for ties)."""
    return pearson(_ranks(first.flatten(-2)).view_as(first), _ranks(second.flatten(-2)).view_as(second))


def pearson(a: Tensor, b: Tensor) -> Tensor:
    r"""Pearson correlation over the last two dims: ``sum(a' b') / sqrt(sum a'^2 sum b'^2)``,
    ``a' = a - mean(a)``; NaN for a constant map."""
    a = a.flatten(-2) - a.flatten(-2).mean(dim=-1, keepdim=True)
    b = b.flatten(-2) - b.flatten(-2).mean(dim=-1, keepdim=True)
    return (a * b).sum(dim=-1) / ((a * a).sum(dim=-1) * (b * b).sum(dim=-1)).sqrt()


def ssim(first: Tensor, second: Tensor) -> Tensor:
    r"""Structural similarity of each pair of maps ``[..., H, W]``, each min-max scaled to [0, 1].

    scikit-image's ``structural_similarity`` with its defaults (7 x 7 uniform window, sample
    covariances, ``K1 = 0.01``, ``K2 = 0.03``, data range 1, the mean over windows that fit):

    .. math:: \mathrm{SSIM} = \frac{(2\mu_a\mu_b + C_1)(2\sigma_{ab} + C_2)}
                                   {(\mu_a^2 + \mu_b^2 + C_1)(\sigma_a^2 + \sigma_b^2 + C_2)}
    """
    a, b = min_max(first.double()), min_max(second.double())
    shape = a.shape
    a, b = a.reshape(-1, 1, *shape[-2:]), b.reshape(-1, 1, *shape[-2:])

    def mean(x):
        return F.avg_pool2d(x, SSIM_WINDOW, stride=1)

    count = SSIM_WINDOW**2
    correction = count / (count - 1)
    mu_a, mu_b = mean(a), mean(b)
    var_a = correction * (mean(a * a) - mu_a**2)
    var_b = correction * (mean(b * b) - mu_b**2)
    cov = correction * (mean(a * b) - mu_a * mu_b)
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return index.mean(dim=(-3, -2, -1)).reshape(shape[:-2])


def model_randomization(
    model: nn.Module,
    images: Tensor,
    explain: Callable[[nn.Module, Tensor], Tensor],
    mode: str = "cascading",
    seed: int = 0,
    absolute: bool = False,
    layers: int | None = None,
) -> pd.DataFrame:
    """The sanity check: similarity of ``explain(model, images)`` maps before and after randomising
    each of the top ``layers`` layers (None: every layer with weights).

    ``explain(model, images)`` returns ``[B, H, W]`` maps. One row per (layer, image): ``layer``,
    ``depth`` (1 = only the top layer), ``image``, ``spearman`` and ``ssim``. ``absolute``
    compares ``|maps|``, as Adebayo et al. also report.
    """
    def maps_of(net: nn.Module) -> Tensor:
        maps = explain(net, images).detach()
        return maps.abs() if absolute else maps

    reference = maps_of(model)
    rows = []
    copies = randomized_models(model, mode, seed, layers)
    for depth, (layer, randomized) in enumerate(copies, start=1):
        maps = maps_of(randomized)
        for image, (rank, structure) in enumerate(zip(spearman(reference, maps).tolist(), ssim(reference, maps).tolist())):
            rows.append(dict(layer=layer, depth=depth, image=image, spearman=rank, ssim=structure))
    return pd.DataFrame(rows)


def _ranks(values: Tensor) -> Tensor:
    """Average ranks along the last dimension (ties share the mean of their ranks)."""
    order = values.argsort(dim=-1, stable=True)
    sorted_values = values.gather(-1, order)
    positions = torch.arange(values.shape[-1], dtype=torch.float64, device=values.device).expand_as(values)
    # Mean position of each run of equal values: positions summed per run, divided by run length.
    new_run = torch.ones_like(sorted_values, dtype=torch.bool)
    new_run[..., 1:] = sorted_values[..., 1:] != sorted_values[..., :-1]
    run = new_run.cumsum(dim=-1) - 1
    total = torch.zeros_like(positions).scatter_add_(-1, run, positions)
    length = torch.zeros_like(positions).scatter_add_(-1, run, torch.ones_like(positions))
    average = (total / length.clamp(min=1)).gather(-1, run)
    return torch.empty_like(average).scatter_(-1, order, average)
