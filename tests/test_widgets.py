"""whynot.widgets: explorers built from precomputed views, linked on the client."""
from __future__ import annotations

import io

import ipywidgets as widgets
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from PIL import Image

from whynot.widgets import EXPLORER_CLASS, explorer, to_png

CONTROLS = {"class": ["a", "b", "c"], "sample": ["0", "1"]}


def view(c: str, s: str) -> np.ndarray:
    """A distinct 4x4 picture per combination."""
    return np.full((4, 4, 3), "abc".index(c) * 80 + int(s) * 20, dtype=np.uint8)


def links_from(dropdown: widgets.Dropdown) -> list[str]:
    """Model ids of the stacks whose selected_index follows ``dropdown``, from the saved state."""
    state = widgets.Widget.get_manager_state()["state"]
    return [
        s["state"]["target"][0].removeprefix("IPY_MODEL_")
        for s in state.values()
        if s["model_name"] == "DirectionalLinkModel"
        and s["state"]["source"] == [f"IPY_MODEL_{dropdown.model_id}", "index"]
        and s["state"]["target"][1] == "selected_index"
    ]


def decode(image: widgets.Image) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(image.value)))


def test_explorer_nests_one_stack_per_control():
    box = explorer({(c, s): view(c, s) for c in CONTROLS["class"] for s in CONTROLS["sample"]}, CONTROLS)
    assert EXPLORER_CLASS in box._dom_classes
    controls, top = box.children
    by_class, by_sample = controls.children
    assert [(d.description, list(d.options), d.index) for d in (by_class, by_sample)] == [
        ("class", ["a", "b", "c"], 0),
        ("sample", ["0", "1"], 0),
    ]
    assert isinstance(top, widgets.Stack) and len(top.children) == 3
    for c, inner in zip(CONTROLS["class"], top.children):
        assert isinstance(inner, widgets.Stack) and len(inner.children) == 2
        for s, leaf in zip(CONTROLS["sample"], inner.children):
            assert isinstance(leaf, widgets.Image) and leaf.format == "png"
            np.testing.assert_array_equal(decode(leaf), view(c, s))
    assert links_from(by_class) == [top.model_id]
    assert sorted(links_from(by_sample)) == sorted(inner.model_id for inner in top.children)


def test_explorer_rejects_missing_or_extra_views():
    views = {(c, "0"): view(c, "0") for c in CONTROLS["class"]}
    with pytest.raises(ValueError, match=r"3 missing .*'1'.*0 unexpected"):
        explorer(views, CONTROLS)
    with pytest.raises(ValueError, match="1 unexpected"):
        explorer({**views, ("z",): view("a", "0")}, {"class": CONTROLS["class"], "sample": ["0"]})
    with pytest.raises(ValueError, match="at least one control"):
        explorer({}, {})


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.linspace(0, 1, 12).reshape(2, 2, 3),
        lambda: np.zeros((2, 3), dtype=np.uint8),
        lambda: torch.rand(3, 5, 4),
        lambda: Image.new("RGB", (4, 2)),
        lambda: plt.figure(figsize=(1, 1)),
    ],
    ids=["float-hwc", "uint8-hw", "tensor-chw", "pil", "figure"],
)
def test_to_png_takes_the_usual_image_types(make):
    png = to_png(make())
    assert png.startswith(b"\x89PNG") and to_png(png) is png
    assert plt.get_fignums() == [], "to_png must close the figures it renders"


def test_to_png_values_and_bad_shapes():
    tensor = torch.zeros(3, 2, 2)
    tensor[0] = 1.0
    assert decode(widgets.Image(value=to_png(tensor)))[0, 0].tolist() == [255, 0, 0]
    with pytest.raises(ValueError, match=r"shape \(2, 2, 5\)"):
        to_png(np.zeros((2, 2, 5)))
