"""Real photos that ship with scikit-image and scikit-learn, preprocessed like ImageNet.

No download: the files are part of those packages. Each photo goes through
:func:`whynot.data.imagenet.imagenet_transform` (bilinear resize of the shorter side to
``256 * size / 224``, centre crop ``size``) and comes back as [3, size, size] in [0, 1].

=============  ==============================================  =========================
name           source                                          ImageNet-like content
=============  ==============================================  =========================
astronaut      ``skimage.data.astronaut``                      person in a space suit
chelsea        ``skimage.data.chelsea``                        tabby cat
coffee         ``skimage.data.coffee``                         espresso cup
rocket         ``skimage.data.rocket``                         rocket on the launch pad
motorcycle     ``skimage.data.stereo_motorcycle`` (left view)  motorcycle in a studio
camera         ``skimage.data.camera`` (grey, as 3 channels)   photographer with tripod
china          ``sklearn.datasets.load_sample_image("china.jpg")``   Chinese palace
flower         ``sklearn.datasets.load_sample_image("flower.jpg")``  flower head
=============  ==============================================  =========================

>>> load_photos(["coffee", "chelsea"]).shape
torch.Size([2, 3, 224, 224])
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from whynot.data.imagenet import imagenet_transform


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        return getattr(skimage.data, name)()
    return load


def _sklearn(file_name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(file_name)
    return load


def _motorcycle_left() -> np.ndarray:
    import skimage.data

    left, _right, _disparity = skimage.data.stereo_motorcycle()
    return left


_SOURCES: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": _skimage("astronaut"),
    "chelsea": _skimage("chelsea"),
    "coffee": _skimage("coffee"),
    "rocket": _skimage("rocket"),
    "motorcycle": _motorcycle_left,
    "camera": _skimage("camera"),
    "china": _sklearn("china.jpg"),
    "flower": _sklearn("flower.jpg"),
}
PHOTO_NAMES: tuple[str, ...] = tuple(_SOURCES)


def load_photo(name: str, size: int = 224) -> torch.Tensor:
    """The photo ``name`` as a float tensor [3, size, size] in [0, 1].

    >>> load_photo("chelsea", size=240).shape
    torch.Size([3, 240, 240])
    """
    try:
        source = _SOURCES[name]
    except KeyError:
        raise KeyError(f"unknown photo {name!r}; choose one of {list(PHOTO_NAMES)}") from None
    pixels = source()
    if pixels.ndim == 2:  # greyscale: repeat into three equal channels
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    return imagenet_transform(size)(Image.fromarray(np.ascontiguousarray(pixels)))


def load_photos(names: Sequence[str] | None = None, size: int = 224) -> torch.Tensor:
    """Several photos (all of :data:`PHOTO_NAMES` by default) as a batch [N, 3, size, size]."""
    names = PHOTO_NAMES if names is None else names
    if isinstance(names, str):
        raise TypeError(f"names must be a list of photo names, not the string {names!r}; "
                        f"use load_photo({names!r}) for one photo")
    if len(names) == 0:
        raise ValueError(f"names is empty; pass None for all photos ({list(PHOTO_NAMES)})")
    return torch.stack([load_photo(name, size) for name in names])
