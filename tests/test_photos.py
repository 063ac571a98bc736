"""Bundled real photos: preprocessing geometry, names, and that a real model recognises them."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
import torch
from PIL import Image

from fixtures_real import efficientnet_lite_model
from whynot.data.imagenet import IMAGENET_CLASSES, imagenet_transform, resize_for_crop
from whynot.data.photos import PHOTO_NAMES, load_photo, load_photos

CAT_CLASSES = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}


@lru_cache(maxsize=None)
def top3(variant: int) -> dict[str, list[str]]:
    """Top-3 ImageNet classes of coffee and chelsea (one batch, so one forward pass per model)."""
    model = efficientnet_lite_model(variant)
    names = ("coffee", "chelsea")
    with torch.no_grad():
        logits = model(load_photos(names, model.whynot_meta["input_size"]))
    return {name: [IMAGENET_CLASSES[i] for i in row.topk(3).indices.tolist()] for name, row in zip(names, logits)}


@pytest.mark.parametrize("variant", [0, 1, 2])
def test_coffee_is_espresso(variant):
    assert top3(variant)["coffee"][0] == "espresso"


@pytest.mark.parametrize("variant", [0, 1, 2])
def test_chelsea_is_a_cat(variant):
    assert set(top3(variant)["chelsea"]) <= CAT_CLASSES


def test_photos_are_rgb_in_unit_range():
    photos = load_photos(size=64)
    assert photos.shape == (len(PHOTO_NAMES), 3, 64, 64) and photos.dtype == torch.float32
    assert photos.min() >= 0 and photos.max() <= 1
    assert photos.flatten(1).std(1).min() > 0.05  # real content, not a blank
    camera = load_photo("camera", size=64)  # greyscale source: three equal channels
    assert torch.equal(camera[0], camera[1]) and torch.equal(camera[1], camera[2])


def test_transform_resizes_the_shorter_side_then_crops_the_centre():
    # A 512 x 256 horizontal ramp: at size 224 the shorter side is already 256, so the output is
    # exactly the centre crop rows 16:240, columns 144:368.
    ramp = np.tile(np.arange(512, dtype=np.uint8)[None, :, None] // 2, (256, 1, 3))
    out = imagenet_transform(224)(Image.fromarray(ramp))
    assert out.shape == (3, 224, 224)
    torch.testing.assert_close(out, torch.from_numpy(ramp[16:240, 144:368]).permute(2, 0, 1) / 255)
    assert [resize_for_crop(s) for s in (224, 240, 260)] == [256, 274, 297]


def test_unknown_photo_lists_the_names():
    with pytest.raises(KeyError, match="choose one of.*coffee"):
        load_photo("lena")


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_bad_size_is_rejected(bad):
    with pytest.raises(ValueError, match="positive int"):
        load_photo("coffee", size=bad)


def test_load_photos_rejects_a_bare_string_and_an_empty_list():
    with pytest.raises(TypeError, match="load_photo"):
        load_photos("coffee")
    with pytest.raises(ValueError, match="empty"):
        load_photos([])
