"""What chapters 06 and 07 measure on any CAM, given a function that explains one method:
deletion and insertion AUCs and the sanity checks (with their figure)."""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import NamedTuple

import pandas as pd
import torch
from torch import Tensor, nn

from whynot.labels import METHOD_LABELS
from whynot.metrics import deletion, insertion
from whynot.metrics.pointing_game import pixel_tolerance

#: ``explain(model, images, classes, method)``: one method's maps ``[B, H, W]``.
Explain = Callable[[nn.Module, Tensor, Tensor, str], Tensor]


def score_maps(model: nn.Module, images: Tensor, classes: Tensor, maps: Tensor,
               batch_size: int = 64) -> dict:
    """Deletion and insertion AUCs ``[B]`` (blurred substrate, 1 % steps, softmax of
    ``classes``)."""
    return {
        "deletion": deletion(model, images, maps, classes, batch_size=batch_size).auc,
        "insertion": insertion(model, images, maps, classes, batch_size=batch_size).auc,
    }


def sanity_checks(model: nn.Module, images: Tensor, methods: Sequence[str], seed: int,
                  explain: Explain) -> pd.DataFrame:
    """Adebayo et al.'s cascading and independent randomisation for each method's map of the
    predicted class. Rows of :func:`whynot.metrics.model_randomization` with ``method`` and
    ``mode`` added. The rehearsal randomises only the top :data:`whynot.rehearsal.SANITY_LAYERS`
    layers (its code path is the same; the full profile's VGGs have 16 to 19)."""
    from whynot import rehearsal
    from whynot.metrics import model_randomization

    layers = rehearsal.SANITY_LAYERS if rehearsal.active() else None

    with torch.no_grad():
        classes = model(images).argmax(dim=1)
    tables = []
    for method in methods:
        def explain_trained(net, x, method=method):
            return explain(net, x, classes, method)

        for mode in ("cascading", "independent"):
            table = model_randomization(model, images, explain_trained, mode=mode, seed=seed,
                                        layers=layers)
            tables.append(table.assign(method=method, mode=mode))
    return pd.concat(tables, ignore_index=True)


def plot_sanity(table: pd.DataFrame, labels: Mapping[str, str] = METHOD_LABELS):
    """Rank correlation and SSIM to the trained model's maps, layer by layer from the top, for
    cascading and independent randomisation (Group-CAM's Fig. 6, Abs-CAM's Fig. 7); ``labels``
    names the methods."""
    import seaborn as sns

    long = table.melt(id_vars=["method", "mode", "depth", "layer"], value_vars=["spearman", "ssim"],
                      var_name="similarity", value_name="value")
    long["method"] = long["method"].map(labels)
    grid = sns.relplot(long, x="depth", y="value", hue="method", row="similarity", col="mode",
                       kind="line", marker="o", errorbar=("se", 1.96), height=2.6, aspect=1.3,
                       facet_kws={"sharey": False})
    grid.set_axis_labels("randomised layer, counted from the top", "")
    grid.set_titles("{row_name}, {col_name}")
    # Below the panels: at the right, tight_layout would draw the panels over the legend.
    sns.move_legend(grid, "upper center", bbox_to_anchor=(0.5, 0.0), ncol=long.method.nunique(),
                    title=None, frameon=False)
    grid.figure.tight_layout()
    return grid.figure


class PointingItem(NamedTuple):
    """One COCO image for the pointing game, once per mapped category (``K`` of them)."""

    index: int  # in whynot.data.coco.COCOPointing
    images: Tensor  # [K, 3, H, W]: the image, repeated
    classes: Tensor  # [K]: each category's ImageNet class with the highest logit
    masks: Tensor  # [K, H, W]: each category's boxes
    targets: list  # [K] whynot.data.coco.PointingTarget
    tolerance: float  # pixels (whynot.metrics.pointing_game.pixel_tolerance)


def coco_items(model: nn.Module, start: int, stop: int) -> Iterator[PointingItem]:
    """The COCO images ``[start, stop)`` (``$WHYNOT_COCO``, at the model's input size) that have a
    category mapped to ImageNet, on the model's device."""
    from whynot.data.coco import coco_pointing_from_env

    pointing = coco_pointing_from_env(model.whynot_meta["input_size"])
    device = next(model.parameters()).device
    for index in range(start, min(stop, len(pointing))):
        image, targets = pointing[index]
        if not targets:
            continue
        images = image[None].to(device).expand(len(targets), -1, -1, -1)
        with torch.no_grad():
            logits = model(images[:1])[0]
        classes = torch.tensor([target.best_class(logits) for target in targets], device=device)
        masks = torch.stack([target.mask for target in targets]).to(device)
        yield PointingItem(index, images, classes, masks, targets, pixel_tolerance(pointing.size))
