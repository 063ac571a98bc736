"""Hooks never leak and the model's state comes back unchanged, after successes and failures."""
from __future__ import annotations

import gc

import pytest
import torch
from torch import nn

import whynot
from whynot.explainers.hooks import LayerCapture
from whynot.targets import CONTRASTS
from test_explainers import ANY_MODEL_METHODS, TEST_KWARGS, random_images, single_thread, tiny_cnn  # noqa: F401

GLOBAL_HOOKS = (
    "_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks", "_global_backward_pre_hooks",
)


def hook_count(model: nn.Module) -> int:
    """Every module, global and parameter (tensor) hook that could be registered on the model."""
    count = sum(len(getattr(nn.modules.module, name)) for name in GLOBAL_HOOKS)
    for module in model.modules():
        count += len(module._forward_hooks) + len(module._forward_pre_hooks)
        count += len(module._backward_hooks) + len(module._backward_pre_hooks)
    for parameter in model.parameters():
        count += len(parameter._backward_hooks or {}) + len(getattr(parameter, "_post_accumulate_grad_hooks", None) or {})
    return count


def model_state(model: nn.Module):
    return (
        [module.training for module in model.modules()],
        [parameter.requires_grad for parameter in model.parameters()],
        {name: value.clone() for name, value in model.state_dict().items()},
        [parameter.grad for parameter in model.parameters()],
    )


def assert_same_state(model, before):
    after = model_state(model)
    assert after[0] == before[0], "train/eval modes changed"
    assert after[1] == before[1], "requires_grad flags changed"
    assert after[2].keys() == before[2].keys()
    for name, value in before[2].items():
        assert torch.equal(after[2][name], value), f"{name} changed"
    assert all(grad is None for grad in after[3]), "parameter gradients were accumulated"


@pytest.fixture
def model():
    model = tiny_cnn()
    model[0].weight.requires_grad_(False)  # a partly frozen model: the mix must come back
    return model


def test_many_calls_of_every_method_leave_no_hook_and_the_same_state(model):
    images = random_images()
    before = model_state(model)
    for _ in range(3):
        for method in ANY_MODEL_METHODS:
            kwargs = TEST_KWARGS.get(method, {})
            whynot.explain(model, images, method=method, topk=2, contrast=CONTRASTS, **kwargs)
    assert hook_count(model) == 0
    assert_same_state(model, before)
    gc.collect()
    assert not [obj for obj in gc.get_objects() if type(obj) is LayerCapture], "a layer capture survived"


@pytest.mark.parametrize("method", ["gradcam", "scorecam", "gradient"])
def test_a_class_index_error_after_the_forward_pass_leaves_nothing_behind(model, method):
    before = model_state(model)
    with pytest.raises(ValueError, match="out of range"):
        whynot.explain(model, random_images(), method=method, classes=99)
    assert hook_count(model) == 0
    assert_same_state(model, before)


@pytest.mark.parametrize("method", ["gradcam", "scorecam", "integrated_gradients"])
def test_a_model_that_raises_in_forward_leaves_nothing_behind(model, method, monkeypatch):
    before = model_state(model)

    def broken(*args):
        raise RuntimeError("broken module")

    monkeypatch.setattr(model[6], "forward", broken)  # after the hooked layer "3"
    with pytest.raises(RuntimeError, match="broken module"):
        whynot.explain(model, random_images(), method=method, layer="3" if method != "integrated_gradients" else None)
    monkeypatch.undo()
    assert hook_count(model) == 0
    assert_same_state(model, before)


def test_a_failure_between_backward_passes_leaves_nothing_behind(model, monkeypatch):
    before = model_state(model)
    grad, calls = torch.autograd.grad, []

    def fails_on_the_third_pass(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("interrupted backward")
        return grad(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", fails_on_the_third_pass)
    with pytest.raises(RuntimeError, match="interrupted backward"):
        whynot.explain(model, random_images(), topk=3, contrast=CONTRASTS)
    monkeypatch.undo()
    assert hook_count(model) == 0
    assert_same_state(model, before)


def test_existing_user_hooks_are_kept(model):
    seen = []
    handle = model[3].register_forward_hook(lambda module, inputs, output: seen.append(output.shape))
    whynot.explain(model, random_images(), layer="3")
    assert hook_count(model) == 1 and len(seen) == 1
    handle.remove()
