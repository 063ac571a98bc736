"""Temporary changes to a model, each owned by a context manager that undoes it on any exit.

- :func:`model_guard` switches every parameter's ``requires_grad`` off for the call (no parameter
  gradients, and no autograd graph before the explained layer) and restores each flag.
- :func:`capture_layer` registers one forward hook on the explained layer and removes it.
- :func:`capture_outputs` records several layers' outputs in the graph (a per-layer sweep in one
  backward pass per atom).
- :func:`leaf_input` makes a module's input a fresh leaf (attention rollout differentiates
  every block's attention from there on, without a graph through what came before).

Nothing else is registered: gradients are taken with ``torch.autograd.grad`` with respect to the
captured activation, so no tensor hooks exist to leak.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn


def resolve_layer(model: nn.Module, layer: str | nn.Module | None) -> tuple[str, nn.Module]:
    """``(name, module)`` of the explained layer.

    ``None``: ``model.whynot_meta["default_layer"]`` if set; for a Vision Transformer
    (:func:`whynot.explainers.tokens.vit_layout`) the last block's first LayerNorm; for Swin and
    ConvNeXt (:func:`whynot.explainers.model_io.family_default_layer`) the final LayerNorm or
    the last stage; else the last ``nn.Conv2d``.
    """
    from whynot.explainers.model_io import family_default_layer
    from whynot.explainers.tokens import vit_layout

    modules = dict(model.named_modules())
    if layer is None:
        layer = getattr(model, "whynot_meta", {}).get("default_layer")
    if layer is None and (layout := vit_layout(model)) is not None:
        layer = layout.default_layer
    if layer is None:
        layer = family_default_layer(model)
    if layer is None:
        convolutions = [name for name, module in modules.items() if isinstance(module, nn.Conv2d)]
        if not convolutions:
            raise ValueError(
                f"{type(model).__name__} has no nn.Conv2d to default to; pass layer= (a module name "
                f"such as {_some_names(modules)}) and, for token outputs, reshape=."
            )
        layer = convolutions[-1]
    if isinstance(layer, nn.Module):
        for name, module in modules.items():
            if module is layer:
                return name, module
        raise ValueError(f"layer {type(layer).__name__} is not a submodule of the model; pass one of its modules.")
    if layer not in modules or layer == "":
        raise ValueError(
            f"unknown layer {layer!r}; valid names include {_some_names(modules)} "
            "(see dict(model.named_modules()) for all)."
        )
    return layer, modules[layer]


def _some_names(modules: dict[str, nn.Module], count: int = 6) -> str:
    convolutions = [name for name, module in modules.items() if isinstance(module, nn.Conv2d)]
    names = convolutions[-count:] or [name for name in modules if name][-count:]
    return ", ".join(repr(name) for name in names)


class LayerCapture:
    """What the forward hook saw: the layer's output, as a leaf that requires grad if asked."""

    def __init__(self, name: str, as_leaf: bool):
        self.name = name
        self.as_leaf = as_leaf
        self.activation: Tensor | None = None

    def __call__(self, module: nn.Module, inputs, output):
        if not isinstance(output, Tensor):
            raise TypeError(
                f"layer {self.name!r} returns {type(output).__name__}, not a tensor; explain a "
                "submodule that returns one tensor."
            )
        if self.activation is not None:
            raise ValueError(
                f"layer {self.name!r} ran twice in one forward pass (a shared module); explain a "
                "module that runs once."
            )
        if not self.as_leaf:
            self.activation = output.detach()
            return None
        self.activation = output.detach().requires_grad_()
        # Downstream in-place ops (ReLU(inplace=True)) must act on a copy, never on the leaf.
        return self.activation.clone()


@contextlib.contextmanager
def capture_layer(module: nn.Module, name: str, as_leaf: bool = True) -> Iterator[LayerCapture]:
    """Capture ``module``'s output during the block; the hook is removed on any exit.

    With ``as_leaf`` the rest of the network runs on (a copy of) a fresh leaf tensor, so
    ``torch.autograd.grad(logits, capture.activation, v)`` back-propagates only to the layer.
    """
    capture = LayerCapture(name, as_leaf)
    handle = module.register_forward_hook(capture)
    try:
        yield capture
    finally:
        handle.remove()
    if capture.activation is None:
        raise ValueError(f"layer {name!r} did not run during the forward pass; pick a layer the model uses.")


@contextlib.contextmanager
def capture_outputs(modules: dict[str, nn.Module]) -> Iterator[dict[str, Tensor]]:
    """Record each module's output *in* the autograd graph (name -> tensor) during the block, so
    that one backward pass reaches several layers; the hooks are removed on any exit."""
    outputs: dict[str, Tensor] = {}

    def recorder(name: str):
        def hook(module, inputs, output):
            if name in outputs:
                raise ValueError(f"layer {name!r} ran twice in one forward pass; explain a module that runs once.")
            outputs[name] = output

        return hook

    handles = [module.register_forward_hook(recorder(name)) for name, module in modules.items()]
    try:
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def leaf_input(module: nn.Module) -> Iterator[list[Tensor]]:
    """Run ``module`` on a leaf copy of its first input that requires grad; the hook is removed on
    any exit. Yields a list that holds the leaf once the forward pass has run.

    Everything computed from the leaf is in the autograd graph (even with frozen parameters), so
    ``torch.autograd.grad`` reaches any intermediate tensor after it; nothing before it is recorded.
    """
    leaves: list[Tensor] = []

    def hook(_, inputs):
        leaves.append(inputs[0].detach().requires_grad_())
        return (leaves[-1], *inputs[1:])

    handle = module.register_forward_pre_hook(hook)
    try:
        yield leaves
    finally:
        handle.remove()


@contextlib.contextmanager
def model_guard(model: nn.Module) -> Iterator[None]:
    """Freeze every parameter for the block; restore each ``requires_grad`` flag on any exit.

    Refuses a model in training mode: BatchNorm then normalises with the batch's statistics, so
    one image's explanation depends on the others and the per-image linearity the engine relies
    on breaks. The mode is never changed behind the caller's back.
    """
    if model.training:
        raise ValueError(
            f"{type(model).__name__} is in training mode (BatchNorm would mix the images of the "
            "batch and Dropout would be random); call model.eval() before explaining."
        )
    if torch.is_inference_mode_enabled():
        raise RuntimeError("explanations need autograd; call them outside torch.inference_mode().")
    flags = [(parameter, parameter.requires_grad) for parameter in model.parameters()]
    try:
        for parameter, _ in flags:
            parameter.requires_grad_(False)
        yield
    finally:
        for parameter, flag in flags:
            parameter.requires_grad_(flag)


def token_grid(prefix_tokens: int = 1, grid: tuple[int, int] | None = None) -> Callable[[Tensor], Tensor]:
    """A ``reshape`` for ViT-style layers: tokens ``[B, N, D]`` to a map ``[B, D, h, w]``.

    Drops the first ``prefix_tokens`` (the CLS token; 0 for none) and lays the remaining
    ``h * w`` patch tokens out row by row on ``grid = (h, w)`` (default: a square grid). Models
    that :func:`whynot.explainers.tokens.vit_layout` recognises need no reshape at all.

    >>> token_grid(1)(torch.zeros(2, 1 + 14 * 14, 768)).shape
    torch.Size([2, 768, 14, 14])
    """

    def reshape(tokens: Tensor) -> Tensor:
        patches = tokens[:, prefix_tokens:]
        count = patches.shape[1]
        side = int(round(count**0.5))
        h, w = grid or (side, side)
        if h * w != count:
            shape = f"a {h} x {w} grid" if grid else "a square grid"
            raise ValueError(
                f"{count} patch tokens after dropping {prefix_tokens} prefix tokens do not fill {shape}; "
                "set prefix_tokens to the number of CLS/register/distillation tokens (and grid=(h, w))."
            )
        return patches.transpose(1, 2).reshape(tokens.shape[0], -1, h, w)

    return reshape
