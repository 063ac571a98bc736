"""LRP-0 / LRP-epsilon and DeepLift-Rescale (whynot.explainers.lrp, .deeplift): hand-computed
values, Sec. 4's identities with Input x Gradient, and captum's implementations."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import whynot
from whynot.experiments.theory import relu_cnn
from whynot.explainers.deeplift import deeplift
from whynot.explainers.lrp import chain_layers, lrp

captum_attr = pytest.importorskip("captum.attr")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def images(batch=3, seed=0, dtype=torch.float64):
    return torch.rand(batch, 3, 56, 56, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def top1(model, x):
    return model(x).argmax(1, keepdim=True)


def input_x_gradient(model, x, classes):
    return whynot.explain(model, x, method="input_x_gradient", classes=classes, keep_channels=True)


def test_lrp_of_a_two_layer_net_by_hand():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)).double().eval()
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 2.0], [-1.0, 1.0]]))
        model[0].bias.copy_(torch.tensor([1.0, 0.0]))
        model[2].weight.copy_(torch.tensor([[2.0, 3.0]]))
        model[2].bias.zero_()
    x = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    # z = (1 + 2 + 1, -1 + 1) = (4, 0); a = (4, 0); y = 8. R on hidden = (8, 0);
    # R_i = x_i w_i1 / z_1 * 8 = (1 * 1 / 4 * 8, 1 * 2 / 4 * 8) = (2, 4): the bias keeps 2.
    relevance = lrp(model, x, torch.zeros(1, 1, dtype=torch.long))
    torch.testing.assert_close(relevance[0, 0], torch.tensor([2.0, 4.0], dtype=torch.float64))


@pytest.mark.parametrize("bias", [True, False])
def test_lrp0_is_input_x_gradient_in_relu_networks(bias):
    model, x = relu_cnn(seed=1, bias=bias).double(), images()
    classes = model(x).topk(2).indices
    torch.testing.assert_close(lrp(model, x, classes), input_x_gradient(model, x, classes))


def test_lrp0_at_a_layer_is_la():
    model, x = relu_cnn(seed=2).double(), images()
    classes = top1(model, x)
    la = whynot.explain(model, x, method="la", layer="6", classes=classes, upsample=False)
    torch.testing.assert_close(lrp(model, x, classes, layer="6").sum(2), la)


class FunctionalFlatten(nn.Module):
    """relu_cnn's layers with a functional flatten: captum's LRP has no rule for nn.Flatten."""

    def __init__(self, model: nn.Sequential):
        super().__init__()
        self.features, self.head = model[:9], model[10]

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


def test_lrp_epsilon_matches_captum():
    model, x = relu_cnn(seed=3).double(), images()
    classes = top1(model, x)
    theirs = captum_attr.LRP(FunctionalFlatten(model)).attribute(x, target=classes[:, 0])
    torch.testing.assert_close(lrp(model, x, classes, epsilon=1e-9)[:, 0], theirs)


def average_pooled(model: nn.Sequential) -> nn.Sequential:
    """relu_cnn with average instead of max pooling (captum's max-pool rule differs from ours:
    its attributions miss the logit difference by about 1 % on relu_cnn; ours sum to it)."""
    model[2], model[5] = nn.AvgPool2d(2), nn.AvgPool2d(2)
    return model


@pytest.mark.parametrize("bias", [True, False])
def test_deeplift_matches_captum(bias):
    model, x = average_pooled(relu_cnn(seed=4, bias=bias).double()), images()
    classes = top1(model, x)
    reference = torch.full_like(x, 0.3) if bias else torch.zeros_like(x)
    theirs = captum_attr.DeepLift(model).attribute(x, baselines=reference, target=classes[:, 0])
    torch.testing.assert_close(deeplift(model, x, classes, reference=reference)[:, 0], theirs)


def test_deeplift_sums_to_the_logit_difference():
    model, x = relu_cnn(seed=5).double(), images()
    classes = top1(model, x)
    reference = torch.full_like(x, 0.5)
    total = deeplift(model, x, classes, reference=reference).flatten(2).sum(2)
    with torch.no_grad():
        expected = (model(x) - model(reference)).gather(1, classes)
    torch.testing.assert_close(total, expected)


def test_without_biases_deeplift_and_ig_are_input_x_gradient_and_with_biases_not():
    x = images()
    for bias in (False, True):
        model = relu_cnn(seed=6, bias=bias).double()
        classes = top1(model, x)
        ixg = input_x_gradient(model, x, classes)
        ig = whynot.explain(model, x, method="integrated_gradients", classes=classes, steps=4, keep_channels=True)
        for name, maps in (("deeplift", deeplift(model, x, classes)), ("ig", ig)):
            gap = ((maps - ixg).abs().max() / ixg.abs().max()).item()
            assert (gap > 1e-3) if bias else (gap < 1e-10), (name, bias, gap)


def test_a_model_that_is_not_a_chain_is_refused():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(3, 3)

        def forward(self, x):
            return x + self.linear(x)

    with pytest.raises(ValueError, match="not a chain"):
        chain_layers(Residual().eval(), torch.rand(2, 3))
    with pytest.raises(ValueError, match="no relevance rule"):
        chain_layers(nn.Sequential(nn.Linear(3, 3), nn.Tanh()).eval(), torch.rand(2, 3))
