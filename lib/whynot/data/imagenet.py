"""ImageNet-1k class names and wnids (offline), standard preprocessing, and the validation set.

The 1000 wnids come from timm's ``imagenet_synsets.txt`` and the human-readable names from
torchvision's ``weights.meta["categories"]`` (which disambiguates the two "crane" and "maillot"
classes); both are copied into ``imagenet_classes.txt`` next to this file, one ``wnid<TAB>name``
line per class, in class-index order (= sorted wnids).

>>> IMAGENET_CLASSES[967], IMAGENET_WNIDS[967]
('espresso', 'n07920052')
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import torch
from torchvision import datasets
from torchvision.transforms import v2


def _read_class_table() -> tuple[tuple[str, ...], tuple[str, ...]]:
    lines = resources.files("whynot.data").joinpath("imagenet_classes.txt").read_text().splitlines()
    wnids, names = zip(*(line.split("\t") for line in lines))
    return tuple(wnids), tuple(names)


IMAGENET_WNIDS, IMAGENET_CLASSES = _read_class_table()
_WNID_TO_INDEX = {wnid: index for index, wnid in enumerate(IMAGENET_WNIDS)}

_LAYOUT_HELP = (
    "Expected the ImageNet validation images sorted into one folder per class, named by wnid: "
    "ROOT/n01440764/ILSVRC2012_val_00000293.JPEG, ..., ROOT/n15075141/... (1000 folders, 50 "
    "images each; a subset of the folders is fine). To build it, download ILSVRC2012_img_val.tar "
    "and ILSVRC2012_devkit_t12.tar.gz from https://image-net.org (free account) into a folder D "
    "and run `torchvision.datasets.ImageNet(D, split='val')` once: it creates D/val in this layout."
)


def check_image_size(size: int) -> int:
    """Return ``size`` if it is a valid side length in pixels, else raise a ValueError."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"size must be a positive int (the side of the square output in pixels), got {size!r}")
    return size


def resize_for_crop(size: int) -> int:
    """Shorter side before the centre crop: the standard 256 for 224, in the same ratio otherwise.

    >>> resize_for_crop(224), resize_for_crop(240)
    (256, 274)
    """
    return round(256 * check_image_size(size) / 224)


def imagenet_transform(size: int = 224) -> v2.Compose:
    """PIL image -> float tensor [3, size, size] in [0, 1]: bilinear resize, centre crop.

    No normalisation: our models normalise internally.

    >>> from PIL import Image
    >>> imagenet_transform(224)(Image.new("RGB", (500, 375))).shape
    torch.Size([3, 224, 224])
    """
    return v2.Compose([
        v2.Resize(resize_for_crop(size), interpolation=v2.InterpolationMode.BILINEAR, antialias=True),
        v2.CenterCrop(size),
        v2.ToImage(),
        v2.ToDtype(torch.float32, scale=True),
    ])


class ImageNetFolder(datasets.ImageFolder):
    """An ImageFolder whose labels are the global ImageNet class indices of the wnid folders.

    Folder ``n07920052`` gets label 967 even when only a few class folders are present.
    """

    def find_classes(self, directory: str | os.PathLike) -> tuple[list[str], dict[str, int]]:
        folders = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir())
        unknown = [name for name in folders if name not in _WNID_TO_INDEX]
        if unknown or not folders:
            problem = (f"{len(unknown)} folder(s) are not ImageNet-1k wnids (first: {unknown[:3]})"
                       if unknown else "it has no class folders")
            raise ValueError(f"{directory} is not an ImageNet validation folder: {problem}. {_LAYOUT_HELP}")
        return folders, {name: _WNID_TO_INDEX[name] for name in folders}


def imagenet_val(root: str | os.PathLike, size: int = 224) -> ImageNetFolder:
    """The ImageNet validation set in ``root`` (wnid folders): items are ``(image, label)``.

    Images are [3, size, size] in [0, 1] (resize 256, centre crop 224 at the default size);
    labels are the ImageNet class indices (0..999, sorted-wnid order).

    >>> val = imagenet_val("/data/imagenet/val")          # doctest: +SKIP
    >>> image, label = val[0]; IMAGENET_CLASSES[label]     # doctest: +SKIP
    'tench'
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"ImageNet validation folder {root} does not exist. {_LAYOUT_HELP}")
    return ImageNetFolder(root, transform=imagenet_transform(size))
