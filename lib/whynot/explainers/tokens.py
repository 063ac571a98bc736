"""Vision Transformers: where the patch tokens are, read from the model, never typed.

A ViT's blocks output token sequences ``[B, N, D]``: ``P`` prefix tokens (CLS, register and
distillation tokens) followed by the ``h * w`` patch tokens, row by row. :func:`vit_layout`
finds the transformer inside a model (through wrappers such as ``NormalizedModel``) and reads
``P``, the grid and the blocks from it, for three families:

* whynot's ``ViTSmall`` (``synth_vit``): one CLS token; the grid from its position embedding;
* torchvision's ``VisionTransformer`` (``vit_b_16``, ...): one class token;
  the grid is ``image_size // patch_size``;
* timm's ``VisionTransformer`` and its subclasses (``vit_*``, ``deit_*`` with a distillation
  token, ``reg_tokens=``): ``num_prefix_tokens``; the grid is ``patch_embed.grid_size``
  (square from the token count when the model takes ``dynamic_img_size``);
* Hugging Face's ``ViTModel`` / ``DeiTModel`` (inside ``ViTForImageClassification``...): one
  CLS token (plus DeiT's distillation token); the grid is ``config.image_size // patch_size``.

CAM explainers use the layout's :meth:`ViTLayout.reshape_for` whenever the model is one of these
and no ``reshape=`` is given, so ``whynot.explain(vit, x, method="gradcam", layer=...)`` works on
tokens; their default layer is :attr:`ViTLayout.default_layer`, the last block's first
LayerNorm (the last block's *output* reaches the logits only through the CLS token, so every
patch token's gradient there is exactly zero).

>>> layout = vit_layout(load_model("synth_vit"))
>>> layout.family, layout.prefix_tokens, layout.grid, layout.default_layer
('whynot', 1, (7, 7), 'net.blocks.3.norm1')
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn


@dataclass(frozen=True)
class ViTLayout:
    """Where a ViT keeps its tokens.

    ``family``: ``"whynot"``, ``"torchvision"``, ``"timm"`` or ``"huggingface"``;
    ``prefix_tokens``: tokens before the patches; ``grid``: ``(h, w)`` of the patches, or None
    for square from the count;
    ``blocks``: module names of the encoder blocks in order; ``norms``: each block's first
    LayerNorm; ``readout``: the token rows the classifier reads (``(0,)`` CLS; ``(0, 1)`` CLS and
    distillation token, averaged; ``()`` the mean of the patch tokens; None: attention pooling,
    which attention rollout does not cover).
    """

    family: str
    prefix_tokens: int
    grid: tuple[int, int] | None
    blocks: tuple[str, ...]
    norms: tuple[str, ...]
    readout: tuple[int, ...] | None

    @property
    def default_layer(self) -> str:
        """The last block's first LayerNorm (pytorch-grad-cam's ViT tutorial uses the same)."""
        return self.norms[-1]

    def patch_grid(self, patches: int) -> tuple[int, int]:
        """The grid ``(h, w)`` of ``patches`` tokens; ValueError when they do not fit it."""
        if self.grid is not None:
            return self.grid
        side = math.isqrt(patches)
        if side * side != patches:
            raise ValueError(
                f"{patches} patch tokens do not form a square grid (a non-square image on a "
                "dynamic-size ViT); pass reshape=whynot.explainers.token_grid(prefix_tokens, grid=(h, w))."
            )
        return side, side

    def reshape_for(self, layer_name: str) -> Callable[[Tensor], Tensor]:
        """The ``reshape`` for ``layer_name``'s output: tokens ``[B, N, D]`` to ``[B, D, h, w]``.

        ``N`` is the prefix plus the patches (a block's output) or the patches alone (a patch
        embedding's output). A 4-D output passes through if it is a feature map before the
        blocks (a hybrid ViT's CNN, a patch-embedding convolution); inside a block it is an
        attention map, not tokens, and is refused.
        """
        inside_block = any(layer_name == b or layer_name.startswith(b + ".") for b in self.blocks)

        def reshape(tokens: Tensor) -> Tensor:
            if tokens.dim() == 4 and not inside_block:
                return tokens
            if tokens.dim() != 3:
                raise ValueError(
                    f"layer {layer_name!r} outputs {tuple(tokens.shape[1:])} per image, not a token "
                    f"sequence [N, D]; explain a block's output or its LayerNorm, e.g. "
                    f"layer={self.default_layer!r} (the default)."
                )
            count = tokens.shape[1]
            patches = count - self.prefix_tokens if self.grid is None else math.prod(self.grid)
            if count == patches + self.prefix_tokens:
                tokens = tokens[:, self.prefix_tokens:]
            elif count != patches:
                raise ValueError(
                    f"layer {layer_name!r} outputs {count} tokens; the model has {self.prefix_tokens} "
                    f"prefix tokens and a {self.grid[0]} x {self.grid[1]} patch grid. Explain an "
                    f"encoder block, e.g. layer={self.default_layer!r}."
                )
            h, w = self.patch_grid(tokens.shape[1])
            return tokens.transpose(1, 2).reshape(tokens.shape[0], -1, h, w)

        return reshape


def vit_layout(model: nn.Module) -> ViTLayout | None:
    """The :class:`ViTLayout` of the first ViT inside ``model``; None if there is none."""
    for name, module in model.named_modules():
        layout = _layout(module, f"{name}." if name else "")
        if layout is not None:
            return layout
    return None


def _layout(module: nn.Module, prefix: str) -> ViTLayout | None:
    from torchvision.models.vision_transformer import VisionTransformer as TorchvisionViT

    from whynot.models.small import ViTSmall

    if isinstance(module, ViTSmall):
        count = len(module.blocks)
        side = math.isqrt(module.pos_embed.shape[1] - 1)
        return ViTLayout("whynot", 1, (side, side), tuple(f"{prefix}blocks.{i}" for i in range(count)),
                         tuple(f"{prefix}blocks.{i}.norm1" for i in range(count)), (0,))
    if isinstance(module, TorchvisionViT):
        names = [f"{prefix}encoder.layers.{child}" for child, _ in module.encoder.layers.named_children()]
        side = module.image_size // module.patch_size
        return ViTLayout("torchvision", 1, (side, side), tuple(names), tuple(f"{n}.ln_1" for n in names), (0,))
    if all(hasattr(module, a) for a in ("num_prefix_tokens", "patch_embed", "blocks", "global_pool")):
        count = len(module.blocks)
        grid = None if getattr(module, "dynamic_img_size", False) else tuple(module.patch_embed.grid_size)
        if module.global_pool == "token":
            readout = (0, 1) if getattr(module, "dist_token", None) is not None else (0,)
        elif module.global_pool == "avg":
            readout = ()
        else:
            readout = None  # attention pooling: no token row to roll out from
        return ViTLayout("timm", int(module.num_prefix_tokens), grid,
                         tuple(f"{prefix}blocks.{i}" for i in range(count)),
                         tuple(f"{prefix}blocks.{i}.norm1" for i in range(count)), readout)
    if type(module).__name__ in ("ViTModel", "DeiTModel") and hasattr(module, "embeddings"):
        return _hugging_face_layout(module, prefix)
    return None


def _hugging_face_layout(module: nn.Module, prefix: str) -> ViTLayout:
    """Hugging Face's ViT (and DeiT): a CLS token (and a distillation token), the grid
    ``config.image_size // config.patch_size``; blocks are the modules with ``layernorm_before``."""
    blocks = tuple(
        f"{prefix}{name}"
        for name, block in module.named_modules()
        if hasattr(block, "layernorm_before")
    )
    distilled = getattr(module.embeddings, "distillation_token", None) is not None

    def pair(value):
        return (value, value) if isinstance(value, int) else tuple(value)

    grid = tuple(
        size // patch
        for size, patch in zip(pair(module.config.image_size), pair(module.config.patch_size))
    )
    return ViTLayout(
        "huggingface",
        2 if distilled else 1,
        grid,
        blocks,
        tuple(f"{block}.layernorm_before" for block in blocks),
        (0, 1) if distilled else (0,),
    )
