r"""Attention rollout (Abnar & Zuidema, 2020) and its gradient-weighted, class-specific form
(Chefer et al., 2021; jacobgil/vit-explain's ``grad_rollout``), in every contrast.

For block ``l`` with softmax attention :math:`A^l` ``[heads, N, N]`` and the gradient
:math:`G^l = \partial\, v^\top y / \partial A^l` of a contrast ``v`` (:mod:`whynot.targets`):

.. math::
    F^l = \operatorname{fuse}_{\text{heads}}(A^l \odot G^l), \qquad
    a^l_{ij} = \frac{F^l_{ij} + \delta_{ij}}{\sum_{j'} |F^l_{ij'} + \delta_{ij'}|}, \qquad
    R = a^L a^{L-1} \cdots a^1,

and the map is the CLS token's row of ``R`` over the patch tokens, on the patch grid, upsampled.
``fuse`` is the mean over heads (``head_fusion="max"`` or ``"min"``); before the identity is
added, the ``discard_ratio`` fraction of entries of :math:`F^l` with the smallest magnitude is
set to zero (per image and block). The classic form (``relu=True``, vit-explain) keeps
:math:`\max(F^l, 0)`; the signed, contrastive form (the default) keeps the negative entries, and
then normalises each row by the sum of its *absolute* values, which equals the classic row sum
when no entry is negative (the classic :math:`(F + I)/2` row-normalised: the 1/2 cancels).
Plain rollout (:class:`AttentionRollout`) uses :math:`F^l = \operatorname{fuse}(A^l)`, with no
gradient and no class.

How the attention and its gradient are reached (the models keep them inside their forward):

* whynot's ``ViTSmall``: each block's ``attn.attn_probs`` (an ``nn.Identity``) outputs it;
* timm: ``Attention.fused_attn`` is switched off for the call, so the attention is computed
  explicitly, and ``attn_drop``'s output (the tensor multiplied by the values) is read;
* torchvision: ``nn.MultiheadAttention`` is called with ``need_weights=False``, and the weights
  it can return are a *copy* (a view made after use), whose gradient is not the attention's.
  For the call, each block's attention module runs :func:`explicit_attention`, the same
  computation written out, which multiplies the values by the very tensor it records
  (a unit test checks it equals the module's output).

All of it lives in :func:`capture_attention`, which restores the model on any exit. The tokens
entering the first block become a leaf (:func:`whynot.explainers.hooks.leaf_input`), so the
gradients of all blocks' attentions come from the engine's ``k + 2`` backward passes
(:func:`whynot.explainers.engine.atom_vjps`); ``A * G`` is linear in ``v``, so each contrast is
combined from the atoms before the (nonlinear) head fusion, ReLU and rollout.

>>> maps = whynot.explain(vit, images, method="rollout", topk=2, contrast=("logit", "softmax"))
>>> maps["softmax"].shape                                           # doctest: +SKIP
torch.Size([8, 2, 224, 224])
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from whynot.explainers.base import Explainer, Raw, upsample_to
from whynot.explainers.engine import atom_vjps, combine
from whynot.explainers.hooks import leaf_input
from whynot.explainers.tokens import ViTLayout, vit_layout
from whynot.targets import decompose, select_classes

HEAD_FUSIONS = ("mean", "max", "min")


def fuse_heads(attention: Tensor, how: str = "mean") -> Tensor:
    """``[..., heads, N, N]`` to ``[..., N, N]`` by the mean, max or min over the heads."""
    if how == "mean":
        return attention.mean(dim=-3)
    if how == "max":
        return attention.amax(dim=-3)
    if how == "min":
        return attention.amin(dim=-3)
    raise ValueError(f"head_fusion must be one of {HEAD_FUSIONS}; got {how!r}.")


def discard_smallest(fused: Tensor, ratio: float) -> Tensor:
    """``fused [..., N, N]`` with the ``int(ratio * N * N)`` entries of smallest magnitude of each
    matrix set to zero."""
    count = int(ratio * fused.shape[-1] * fused.shape[-2])
    if count == 0:
        return fused
    flat = fused.flatten(-2)
    smallest = flat.abs().topk(count, dim=-1, largest=False).indices
    return flat.scatter(-1, smallest, 0.0).view_as(fused)


def rollout(fused: Sequence[Tensor], discard_ratio: float = 0.0) -> Tensor:
    r"""The product :math:`a^L \cdots a^1` of the row-normalised ``(F + I)`` of each block's fused
    attention ``F [..., N, N]`` (first block first); rows normalised by their absolute sum.

    >>> rollout([torch.tensor([[0.0, 1.0], [0.0, 1.0]])])          # (F + I) row-normalised
    tensor([[0.5000, 0.5000],
            [0.0000, 1.0000]])
    """
    if not 0 <= discard_ratio < 1:
        raise ValueError(f"discard_ratio must be in [0, 1); got {discard_ratio}.")
    result = None
    for matrix in fused:
        matrix = discard_smallest(matrix, discard_ratio)
        step = matrix + torch.eye(matrix.shape[-1], dtype=matrix.dtype, device=matrix.device)
        step = step / step.abs().sum(dim=-1, keepdim=True).clamp_min(torch.finfo(step.dtype).tiny)
        result = step if result is None else step @ result
    return result


def explicit_attention(module: nn.MultiheadAttention, store: list[Tensor]):
    """A forward for torchvision's self-attention that records the softmax attention
    ``[B, heads, N, N]`` in ``store`` and computes the output from that very tensor."""
    supported = (module.batch_first and module._qkv_same_embed_dim and module.bias_k is None
                 and not module.add_zero_attn)
    if not supported:
        raise ValueError("attention rollout supports torchvision's ViT self-attention (batch_first, one "
                         "in_proj, no bias_k, no add_zero_attn); this nn.MultiheadAttention differs.")

    def forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None, **_):
        if key is not query or value is not query or key_padding_mask is not None or attn_mask is not None:
            raise ValueError("attention rollout needs unmasked self-attention (query is key is value).")
        batch, tokens, dim = query.shape
        heads = module.num_heads
        qkv = F.linear(query, module.in_proj_weight, module.in_proj_bias)
        q, k, v = qkv.view(batch, tokens, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
        attention = (q @ k.transpose(-2, -1) / math.sqrt(dim // heads)).softmax(dim=-1)
        store.append(attention)
        out = (attention @ v).transpose(1, 2).reshape(batch, tokens, dim)
        return module.out_proj(out), None

    return forward


@contextlib.contextmanager
def capture_attention(model: nn.Module, layout: ViTLayout) -> Iterator[list[Tensor]]:
    """Record every block's softmax attention ``[B, heads, N, N]`` (in the autograd graph) during
    the block; the model is restored on any exit (hooks removed, timm's ``fused_attn`` flags
    and torchvision's attention forwards put back)."""
    store: list[Tensor] = []
    blocks = [model.get_submodule(name) for name in layout.blocks]
    with contextlib.ExitStack() as stack:
        for block in blocks:
            if layout.family == "whynot":
                handle = block.attn.attn_probs.register_forward_hook(lambda m, i, out: store.append(out))
                stack.callback(handle.remove)
            elif layout.family == "timm":
                attention = block.attn
                if not hasattr(attention, "fused_attn") or not isinstance(getattr(attention, "attn_drop", None), nn.Module):
                    raise ValueError(f"{type(attention).__name__} is not timm's ViT Attention (fused_attn, "
                                     "attn_drop); attention rollout cannot read its probabilities.")
                stack.callback(setattr, attention, "fused_attn", attention.fused_attn)
                attention.fused_attn = False
                handle = attention.attn_drop.register_forward_hook(lambda m, i, out: store.append(out))
                stack.callback(handle.remove)
            else:
                attention = block.self_attention
                forward = explicit_attention(attention, store)
                stack.callback(attention.__dict__.pop, "forward", None)
                attention.forward = forward
        yield store
    if store and len(store) != len(blocks):
        raise ValueError(f"{len(store)} attention maps for {len(blocks)} blocks; a block ran more or less "
                         "than once in the forward pass.")


class RolloutExplainer(Explainer):
    """What both rollouts share: the model's :class:`ViTLayout`, the readout and upsampling."""

    def __init__(self, model: nn.Module, relu: bool = False, upsample: bool = True,
                 head_fusion: str = "mean", discard_ratio: float = 0.9, **options):
        super().__init__(model, relu, **options)
        layout = vit_layout(model)
        if layout is None:
            raise ValueError(f"{type(model).__name__} is not a Vision Transformer that whynot recognises "
                             "(ours, torchvision's or timm's VisionTransformer); rollout needs its attention.")
        if layout.family == "huggingface":
            raise ValueError(
                "rollout supports whynot's, torchvision's and timm's ViTs; for a Hugging Face ViT "
                "use a CAM (method='gradcam' explains its last block's LayerNorm)."
            )
        if layout.readout is None:
            raise ValueError("this ViT pools its tokens by attention; rollout needs a CLS readout or mean pooling.")
        fuse_heads(torch.zeros(1, 1, 1), head_fusion)
        if not 0 <= discard_ratio < 1:
            raise ValueError(f"discard_ratio must be in [0, 1); got {discard_ratio}.")
        self.layout, self.upsample = layout, upsample
        self.head_fusion, self.discard_ratio = head_fusion, discard_ratio

    def to_maps(self, fused: Sequence[Tensor]) -> Tensor:
        """The readout rows of the rollout of ``fused [..., N, N]`` over the patches, on their grid."""
        rolled = rollout(fused, self.discard_ratio)
        prefix = self.layout.prefix_tokens
        rows = rolled[..., list(self.layout.readout), :] if self.layout.readout else rolled[..., prefix:, :]
        patches = rows.mean(dim=-2)[..., prefix:]
        return patches.unflatten(-1, self.layout.patch_grid(patches.shape[-1]))

    def finish(self, maps: Tensor, images: Tensor) -> Tensor:
        return upsample_to(maps, images, self.upsample)


class GradientRollout(RolloutExplainer):
    r"""Gradient-weighted attention rollout of each target and contrast (see the module).

    ``relu=True``: the classic form (positive part of the fused ``A * G``); default: signed.

    >>> GradientRollout(vit)(images, topk=3, contrast="softmax").maps.shape  # doctest: +SKIP
    torch.Size([8, 3, 224, 224])
    """

    name = "rollout"

    def explain_contrasts(self, images, classes, topk, contrasts):
        with capture_attention(self.model, self.layout) as attentions, \
                leaf_input(self.model.get_submodule(self.layout.blocks[0])):
            logits = self.logits(images)
        chosen = select_classes(logits.detach(), classes, topk)
        decomposition = decompose(logits, chosen, contrasts)
        gradients = atom_vjps(logits, attentions, decomposition.atoms)
        maps = self.maps_from(attentions, gradients, decomposition.coefficients)
        return Raw(maps, chosen, len(decomposition.atoms), logits.detach())

    def maps_from(self, attentions: Sequence[Tensor], gradients: Sequence[Tensor],
                  coefficients: dict[str, Tensor]) -> dict[str, Tensor]:
        """``{contrast: [B, K, h, w]}`` from each block's attention ``[B, heads, N, N]``, its atom
        gradients ``[atoms, B, heads, N, N]`` and the contrasts' coefficients ``[B, K, atoms]``."""
        fused: dict[str, list[Tensor]] = {name: [] for name in coefficients}
        for attention, gradient in zip(attentions, gradients):
            weighted = attention.detach() * gradient
            if self.head_fusion == "mean":  # linear: fuse once per atom, not per target
                weighted = weighted.mean(dim=-3)
            for name, value in combine(coefficients, weighted).items():
                value = value if self.head_fusion == "mean" else fuse_heads(value, self.head_fusion)
                fused[name].append(value.relu() if self.relu else value)
        return {name: self.to_maps(layers) for name, layers in fused.items()}


class AttentionRollout(RolloutExplainer):
    """Plain attention rollout (Abnar & Zuidema): no gradient, so one map per image, the same
    for every target and contrast (repeated along ``K``); no backward pass."""

    name = "attention_rollout"

    @torch.no_grad()
    def explain_contrasts(self, images, classes, topk, contrasts):
        with capture_attention(self.model, self.layout) as attentions:
            logits = self.logits(images)
        chosen = select_classes(logits, classes, topk)
        maps = self.to_maps([fuse_heads(a, self.head_fusion) for a in attentions])
        maps = maps[:, None].expand(-1, chosen.shape[1], -1, -1)
        return Raw({name: maps for name in contrasts}, chosen, 0, logits)
