"""Base classes: input checks, target classes, contrasts, the engine call, ReLU and upsampling.

A method only says how a (combined) gradient becomes a map, in pytorch-grad-cam's style:
input-space methods define :meth:`InputExplainer.attribute`, CAM methods their
:meth:`CAMExplainer.channel_weights` (or a whole :meth:`CAMExplainer.attribute`). Everything is
batched over images and targets and stays on the images' device.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from whynot.explainers.engine import check_images, check_logits, contrast_gradients
from whynot.explainers.hooks import capture_layer, model_guard, resolve_layer
from whynot.explainers.model_io import (
    binary_as_two,
    channels_last,
    class_indices,
    class_names,
    select_output,
)
from whynot.explainers.tokens import vit_layout
from whynot.targets import Contrasts, request_contrasts, select_classes
from whynot.utils import progress

# The authors (and pytorch-grad-cam's ScoreCAM masks) upsample with align_corners=True.
ALIGN_CORNERS = True
# The masking methods show a progress bar from this many forward passes on.
PROGRESS_FROM_CHUNKS = 8


class Explanation(NamedTuple):
    """What an explainer returns.

    ``maps``: ``[B, K, H, W]`` (or a dict contrast -> that, when several contrasts were asked
    for); ``classes``: the explained classes ``[B, K]``; ``backward_passes``: how many batch-wide
    backward passes the engine ran (``k + 2`` for all contrasts of the top-k classes).
    ``method``: the method's name; ``layer``: the explained module's name (CAMs), else None;
    ``contrast``: the contrast name, a tuple of names, ``"custom"`` for a cotangent tensor;
    ``probabilities``: ``[B, C]`` softmax (sigmoid for multi-label models) of the logits,
    detached; ``class_names``: the model's C class names where it carries them; ``foil``: the
    foil classes ``[B, F]`` of the ``"foil"`` contrast, else None.
    """

    maps: Tensor | dict[str, Tensor]
    classes: Tensor
    backward_passes: int
    method: str | None = None
    layer: str | None = None
    contrast: object = None
    probabilities: Tensor | None = None
    class_names: tuple[str, ...] | None = None
    foil: Tensor | None = None

    def save(self, folder, images: Tensor, model: str | None = None, image_names=None,
             overwrite: bool = False):
        """Overlays (PNG), raw maps (``.npy``) and ``manifest.json`` in ``folder``, written
        atomically; see :func:`whynot.save.save_explanation`."""
        from whynot.save import save_explanation

        return save_explanation(self, folder, images, model=model, image_names=image_names,
                                overwrite=overwrite)


class Explainer:
    """Explain ``model``'s logits for images ``[B, 3, H, W]`` in [0, 1].

    Calling an explainer returns an :class:`Explanation` for the chosen classes (see
    :func:`whynot.targets.select_classes`) and contrast(s) (see :mod:`whynot.targets`).
    ``relu=True`` keeps only the positive part of every map (the classic CAM forms).
    ``output``: where the logits are in what the model returns (default: the tensor itself,
    ``.logits``, a tuple's first element or a dict's ``"logits"``; see
    :func:`whynot.explainers.model_io.select_output`). ``multilabel=True``: the model scores its
    classes with independent sigmoids (the softmax-based contrasts are refused). A model with a
    single logit is explained as the two classes ``[0, y]``. ``batch_size``: at most this many
    images per forward pass; the maps equal those of one call.
    """

    name: ClassVar[str]
    # Why every map of this method may be zero, when the logits and layer are fine.
    zero_maps_because: ClassVar[str] = (
        "the gradient of the logits with respect to the input is zero"
    )

    def __init__(self, model: nn.Module, relu: bool = False, output=None, multilabel: bool = False,
                 batch_size: int | None = None):
        if batch_size is not None and (
            isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
        ):
            raise ValueError(
                f"batch_size must be a positive int (images per forward pass); got {batch_size!r}."
            )
        self.model = model
        self.relu = relu
        self.output = output
        self.multilabel = multilabel
        self.batch_size = batch_size
        self.image_size: tuple[int, int] | None = None
        self.binary = False  # the model returned one logit, explained as [0, y]

    def __call__(
        self,
        images: Tensor,
        classes=None,
        topk: int | None = None,
        contrast="logit",
        foil=None,
    ) -> Explanation:
        return explain_together([self], images, classes, topk, contrast, foil)[0]

    def explain_contrasts(
        self, images: Tensor, classes, topk: int | None, contrasts: Contrasts
    ) -> Raw:
        """Raw maps ``{contrast: [B, K, ...]}``, classes ``[B, K]``, backward passes, logits."""
        raise NotImplementedError

    def finish(self, maps: Tensor, images: Tensor) -> Tensor:
        return maps.relu() if self.relu else maps

    def logits(self, images: Tensor) -> Tensor:
        """The model's logits ``[B, c]`` for ``images`` (``output`` selected, a single logit as
        ``[0, y]`` unless multi-label), checked."""
        logits = select_output(self.model(images), self.output)
        if not self.multilabel and isinstance(logits, Tensor) and logits.shape[1:] == (1,):
            self.binary = True
            logits = binary_as_two(logits)
        check_logits(logits, images.shape[0], self.multilabel)
        return logits


class Raw(NamedTuple):
    """What :meth:`Explainer.explain_contrasts` returns for one chunk of images."""

    maps: dict[str, Tensor]
    classes: Tensor
    backward_passes: int
    logits: Tensor


class InputExplainer(Explainer):
    """Attributions in input space, summed over colour channels unless ``keep_channels``.

    The channel sum is linear, so the paper's identities hold for the returned ``[B, K, H, W]``
    maps; ``keep_channels=True`` returns ``[B, K, 3, H, W]`` (e.g. for gradient-sign attacks).
    """

    def __init__(
        self, model: nn.Module, relu: bool = False, keep_channels: bool = False, **options
    ):
        super().__init__(model, relu, **options)
        self.keep_channels = keep_channels

    def attribute(self, gradients: Tensor, inputs: Tensor) -> Tensor:
        """Map ``[B, K, 3, H, W]`` from contrast gradients ``[B, K, 3, H, W]``, inputs ``[B, 1, 3, H, W]``."""
        raise NotImplementedError

    def explain_contrasts(self, images, classes, topk, contrasts):
        inputs = images.clone().requires_grad_()
        logits = self.logits(inputs)
        chosen = select_classes(logits.detach(), classes, topk)
        gradients, passes = contrast_gradients(logits, inputs, chosen, contrasts)
        maps = {name: self.reduce(self.attribute(value, images[:, None])) for name, value in gradients.items()}
        return Raw(maps, chosen, passes, logits.detach())

    def reduce(self, maps: Tensor) -> Tensor:
        return maps if self.keep_channels else maps.sum(dim=2)


class CAMExplainer(Explainer):
    """Maps at a layer, ``sum_k w_k A_k`` by default; upsampled bilinearly to the input size.

    ``layer``: a module name (``"net.features.40"``) or module; default
    ``model.whynot_meta["default_layer"]`` if set; for a ViT the last block's first LayerNorm;
    for Swin its final LayerNorm and for ConvNeXt its last stage
    (:func:`whynot.explainers.model_io.family_default_layer`); else the last ``nn.Conv2d``.
    ``reshape``: turns the layer's output into ``[B, C, h, w]``;
    it is applied to activations and gradients alike. For the ViTs that
    :func:`whynot.explainers.tokens.vit_layout` recognises (ours, torchvision's, timm's,
    Hugging Face's) it is derived from the model (prefix tokens dropped, patches on their
    grid); for other token models pass :func:`token_grid` or your own callable. Without it, a
    ``[B, h, w, C]`` (channels-last) output is recognised and permuted
    (:func:`whynot.explainers.model_io.channels_last`). ``upsample=False`` keeps
    the layer's resolution. Upsampling is bilinear with ``align_corners=True``, as the authors'
    code; ReLU (if asked) comes first, at the layer's resolution, as in the classic CAMs.
    """

    zero_maps_because = (
        "the layer does not reach the logits through its spatial positions (a layer "
        "after global pooling, or the last block's output of a CLS-token ViT); pick an "
        "earlier layer"
    )

    def __init__(
        self,
        model: nn.Module,
        layer: str | nn.Module | None = None,
        relu: bool = False,
        upsample: bool = True,
        reshape: Callable[[Tensor], Tensor] | None = None,
        **options,
    ):
        super().__init__(model, relu, **options)
        self.layer_name, self.layer = resolve_layer(model, layer)
        self.upsample = upsample
        if reshape is None and (layout := vit_layout(model)) is not None:
            reshape = layout.reshape_for(self.layer_name)
        self.reshape = reshape

    def channel_weights(self, gradients: Tensor, activations: Tensor) -> Tensor:
        """Channel weights ``[B, K, C]`` from gradients ``[B, K, C, h, w]``, activations ``[B, 1, C, h, w]``."""
        raise NotImplementedError

    def attribute(self, gradients: Tensor, activations: Tensor) -> Tensor:
        """Map ``[B, K, h, w]``; by default ``sum_k w_k A_k``."""
        weights = self.channel_weights(gradients, activations)
        return (weights[..., None, None] * activations).sum(dim=-3)

    def explain_contrasts(self, images, classes, topk, contrasts):
        gradients, activations, chosen, passes, logits = self.layer_gradients(
            images, classes, topk, contrasts
        )
        maps = {name: self.attribute(value, activations) for name, value in gradients.items()}
        return Raw(maps, chosen, passes, logits)

    def layer_gradients(
        self, images: Tensor, classes, topk: int | None, contrasts: Contrasts
    ) -> tuple[dict[str, Tensor], Tensor, Tensor, int, Tensor]:
        """``({contrast: gradients [B, K, C, h, w]}, activations [B, 1, C, h, w], classes, passes,
        logits)``: everything a gradient CAM needs; :func:`whynot.explain` shares it between
        methods.
        """
        with capture_layer(self.layer, self.layer_name) as capture:
            logits = self.logits(images)
        chosen = select_classes(logits.detach(), classes, topk)
        gradients, passes = contrast_gradients(logits, capture.activation, chosen, contrasts)
        activations = self.grid(capture.activation.detach(), leading=1)[:, None]
        gradients = {name: self.grid(value, leading=2) for name, value in gradients.items()}
        return gradients, activations, chosen, passes, logits.detach()

    def grid(self, tensor: Tensor, leading: int) -> Tensor:
        """Apply ``reshape`` (or read channels last) to a layer-shaped tensor with ``leading``
        batch-like dimensions."""
        flat = tensor.reshape(-1, *tensor.shape[leading:])
        if self.reshape is not None:
            flat = self.reshape(flat)
        elif flat.dim() == 4 and channels_last(
            flat.shape, self.image_size or flat.shape[-2:], self.layer, self.layer_name
        ):
            flat = flat.permute(0, 3, 1, 2)
        if flat.dim() != 4:
            raise ValueError(
                f"layer {self.layer_name!r} gives {flat.dim() - 1}-D activations {tuple(flat.shape[1:])} per "
                "image; CAMs need [C, h, w]. For token outputs [B, N, D] pass "
                "reshape=whynot.explainers.token_grid(prefix_tokens=1) or your own callable."
            )
        return flat.reshape(*tensor.shape[:leading], *flat.shape[1:])

    def finish(self, maps: Tensor, images: Tensor) -> Tensor:
        return upsample_to(super().finish(maps, images), images, self.upsample)


def upsample_to(maps: Tensor, images: Tensor, upsample: bool = True) -> Tensor:
    """``maps [B, K, h, w]`` bilinearly upsampled (``align_corners=True``) to the images' size."""
    if not upsample or maps.shape[-2:] == images.shape[-2:]:
        return maps
    return F.interpolate(maps, size=images.shape[-2:], mode="bilinear", align_corners=ALIGN_CORNERS)


def explain_together(
    explainers: Sequence[Explainer],
    images: Tensor,
    classes=None,
    topk: int | None = None,
    contrast="logit",
    foil=None,
) -> list[Explanation]:
    """Explanations of one or several explainers; several gradient CAMs at one layer share one
    engine pass (one forward, ``k + 2`` backward).

    GradCAM, LA, XGradCAM and GradCAM++ differ only in how they weight the same activations and
    contrast gradients, so the first explainer's :meth:`CAMExplainer.layer_gradients` serves all.
    ``classes`` and ``foil`` may be class names where the model carries them
    (:func:`whynot.explainers.model_io.class_names`). The images go through in chunks of the
    first explainer's ``batch_size``.
    """
    first = explainers[0]
    for explainer in explainers[1:]:
        shares = all(
            type(e).explain_contrasts is CAMExplainer.explain_contrasts for e in (first, explainer)
        )
        if not shares or explainer.model is not first.model or explainer.layer is not first.layer:
            raise ValueError(
                f"{explainer.name} cannot share one engine pass: only gradient CAMs (gradcam, la, "
                "xgradcam, gradcam++) of the same model and layer can; explain the others separately."
            )
    images = check_images(images, first.model)
    batch = images.shape[0]
    names = class_names(first.model)
    classes = class_indices(classes, names, "classes")
    request = request_contrasts(
        contrast, batch, class_indices(foil, names, "foil"), first.multilabel
    )
    size = first.batch_size or batch
    chunks = []
    with model_guard(first.model), torch.enable_grad():
        for start in range(0, batch, size):
            rows = slice(start, start + size)
            part = images[rows].detach()
            for explainer in explainers:
                explainer.image_size = tuple(part.shape[-2:])
            chunk_classes = classes if size >= batch else _rows(classes, rows, batch)
            chunks.append(_explain_chunk(explainers, part, chunk_classes, topk, request.rows(rows)))
    logits = torch.cat([raws[0].logits for raws in chunks])
    chosen = torch.cat([raws[0].classes for raws in chunks])
    passes = sum(raws[0].backward_passes for raws in chunks)
    probabilities = (logits.sigmoid() if first.multilabel else logits.softmax(dim=1)).detach()
    recorded = {
        "contrast": request.names[0] if isinstance(contrast, (str, Tensor)) else request.names,
        "probabilities": probabilities,
        "class_names": class_names(first.model, logits.shape[1]),
        "foil": request.foil,
    }
    explanations = []
    for index, explainer in enumerate(explainers):
        maps = {
            name: torch.cat([explainer.finish(raws[index].maps[name], images[start : start + size])
                             for start, raws in zip(range(0, batch, size), chunks)])
            for name in request.names
        }
        warn_if_uninformative(maps, logits, explainer)
        explanations.append(Explanation(
            maps[request.names[0]] if isinstance(contrast, (str, Tensor)) else maps, chosen, passes,
            method=explainer.name, layer=getattr(explainer, "layer_name", None), **recorded,
        ))
    return explanations


def progress_chunks(chunks: Sequence, desc: str):
    """``chunks`` with a progress bar when there are enough of them to wait for
    (``WHYNOT_PROGRESS=0`` turns bars off; see :func:`whynot.utils.progress`)."""
    return (
        progress(chunks, desc=desc, leave=False) if len(chunks) >= PROGRESS_FROM_CHUNKS else chunks
    )


def _explain_chunk(explainers, images, classes, topk, request) -> list[Raw]:
    if len(explainers) == 1:
        return [explainers[0].explain_contrasts(images, classes, topk, request)]
    gradients, activations, chosen, passes, logits = explainers[0].layer_gradients(
        images, classes, topk, request
    )
    return [
        Raw({name: explainer.attribute(value, activations) for name, value in gradients.items()},
            chosen, passes, logits)
        for explainer in explainers
    ]


def _rows(classes, rows: slice, batch: int):
    """The rows of per-image ``classes`` for a chunk of the batch (an int applies to all)."""
    if classes is None:
        return None
    index = torch.as_tensor(classes)
    if index.dim() == 0:
        return classes
    if index.shape[0] != batch:
        raise ValueError(
            f"classes has {index.shape[0]} rows for {batch} images; give one class (or a row of K "
            "classes) per image, or one int for all."
        )
    return index[rows]


def warn_if_uninformative(maps: dict[str, Tensor], logits: Tensor, explainer: Explainer) -> None:
    """Warn when every map is zero, naming the likely cause, rather than return blank maps."""
    if any(bool(value.ne(0).any()) for value in maps.values()):
        return
    if bool((logits == logits[:, :1]).all()):
        cause = ("the logits are equal for every class and image: an untrained or zero-initialised "
                 "classifier head (load the trained weights)")
    elif logits.shape[0] > 1 and bool((logits == logits[:1]).all()):
        cause = "the logits are the same for every image: the output does not depend on the input"
    elif explainer.binary:
        cause = (
            "a single-logit model's class 0 is the implicit logit 0, constant; explain class 1 "
            "(classes=1), or class 0 with contrast='max' (0 - y)"
        )
    else:
        cause = explainer.zero_maps_because
    if explainer.relu:
        cause += ", or all evidence is negative (relu=True)"
    warnings.warn(f"every {explainer.name} map is zero: {cause}.", UserWarning, stacklevel=3)
