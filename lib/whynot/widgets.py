"""Explorers that stay interactive in the static book, with no kernel behind them.

Every view is rendered once, in Python, to a small PNG held by an ``ipywidgets.Image``; the
controls switch between the views in the browser through ``jsdlink``s, which the saved widget
state keeps. Use a kernel (``interact``) only for what cannot be precomputed.
"""
from __future__ import annotations

import io
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np

#: CSS class of the box that ``explorer`` returns (the book's browser check looks for it).
EXPLORER_CLASS = "whynot-explorer"


def to_png(view: Any) -> bytes:
    """PNG bytes of ``view``: PNG bytes, a PIL image, a matplotlib Figure (closed after),
    an ``[H, W]``/``[H, W, 3|4]`` array (uint8, or float in [0, 1]) or a ``[3, H, W]`` tensor."""
    if isinstance(view, bytes):
        return view
    from matplotlib.figure import Figure
    from PIL import Image

    if isinstance(view, Figure):
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        view.savefig(buf, format="png", bbox_inches="tight")
        plt.close(view)
        return buf.getvalue()
    if not isinstance(view, Image.Image):
        view = Image.fromarray(_to_uint8_hwc(view))
    buf = io.BytesIO()
    view.save(buf, format="png")
    return buf.getvalue()


def to_jpeg(view: Any, quality: int = 85) -> bytes:
    """JPEG bytes of anything ``to_png`` takes: photographic views at a fraction of the size."""
    from PIL import Image

    buf = io.BytesIO()
    Image.open(io.BytesIO(to_png(view))).convert("RGB").save(buf, format="jpeg", quality=quality)
    return buf.getvalue()


def _to_uint8_hwc(array: Any) -> np.ndarray:
    if hasattr(array, "detach"):  # a torch tensor, [3, H, W] by the library's convention
        array = array.detach().cpu().numpy()
        if array.ndim == 3:
            array = array.transpose(1, 2, 0)
    array = np.asarray(array)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(
            f"cannot show an array of shape {array.shape} as an image; "
            "pass [H, W], [H, W, 3|4] arrays or [3, H, W] tensors"
        )
    if array.dtype == np.uint8:
        return array
    return (np.clip(array, 0.0, 1.0) * 255).round().astype(np.uint8)


def explorer(
    views: Mapping[tuple[str, ...], Any], controls: Mapping[str, Sequence[str]], image_format: str = "png"
) -> widgets.VBox:
    """A dropdown per control over precomputed views, working in the static book.

    ``controls`` maps each control's label to its options, in order; ``views`` maps every
    combination of options (a tuple, one option per control, in the same order) to a view
    (anything ``to_png`` takes). The views sit in nested ``Stack``s, one level per control, and
    each level's ``selected_index`` follows its dropdown's ``index`` on the client.
    ``image_format="jpeg"`` keeps many photographic views small in the saved notebook.
    """
    encode = {"png": to_png, "jpeg": to_jpeg}.get(image_format)
    if encode is None:
        raise ValueError(f"image_format must be 'png' or 'jpeg', got {image_format!r}")
    if not controls:
        raise ValueError("explorer needs at least one control")
    options = [list(opts) for opts in controls.values()]
    expected = set(itertools.product(*options))
    missing, extra = expected - set(views), set(views) - expected
    if missing or extra:
        raise ValueError(
            f"views must have exactly one entry per combination of {list(controls)}: "
            f"{len(missing)} missing (e.g. {sorted(missing)[:3]}), "
            f"{len(extra)} unexpected (e.g. {sorted(extra)[:3]})"
        )
    dropdowns = [
        widgets.Dropdown(options=opts, index=0, description=label)
        for label, opts in zip(controls, options)
    ]

    layout = widgets.Layout()  # one for all: each widget's own would add its state per view

    def level(depth: int, prefix: tuple[str, ...]) -> widgets.Widget:
        if depth == len(options):
            return widgets.Image(value=encode(views[prefix]), format=image_format, layout=layout)
        stack = widgets.Stack(
            [level(depth + 1, prefix + (opt,)) for opt in options[depth]], selected_index=0, layout=layout
        )
        widgets.jsdlink((dropdowns[depth], "index"), (stack, "selected_index"))
        return stack

    box = widgets.VBox([widgets.HBox(dropdowns), level(0, ())])
    box.add_class(EXPLORER_CLASS)
    return box
