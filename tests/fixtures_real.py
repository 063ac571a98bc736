"""Builders of small stand-ins for the real data sets (CUB-200-2011, ImageNet val), made in tmp dirs.

Imported by the test files of the real-data loaders; no conftest, no network.
"""
from __future__ import annotations

import hashlib
import math
import tarfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image

# Three classes with their (1-based) CUB ids and a dominant colour each, so that a tiny model
# can learn them; each class has two training images and one test image of different sizes.
FAKE_CUB_CLASSES = ("001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross")
FAKE_CUB_COLOURS = ((220, 40, 30), (30, 200, 40), (30, 40, 210))
FAKE_CUB_SIZES = ((64, 48), (40, 60), (50, 50))  # (width, height) of the 1st, 2nd, 3rd image of a class
FAKE_CUB_IS_TRAIN = (1, 0, 1)  # the 2nd image of each class is a test image
FAKE_CUB_PARTS = ("back", "beak", "left eye")  # real CUB has 15, with spaces in names too


@dataclass(frozen=True)
class FakeCUB:
    archive: Path  # CUB_200_2011.tgz in the real on-disk layout
    md5: str
    boxes: dict[int, tuple[float, float, float, float]]  # image id -> x, y, width, height
    parts: dict[int, list[tuple[float, float, int]]]  # image id -> per part x, y, visible
    sizes: dict[int, tuple[int, int]]  # image id -> width, height
    labels: dict[int, int]  # image id -> 1-based class id
    is_train: dict[int, int]


def make_fake_cub(directory: Path) -> FakeCUB:
    """Write a 9-image CUB-200-2011 tree and its ``CUB_200_2011.tgz`` under ``directory``."""
    tree = directory / "CUB_200_2011"
    (tree / "parts").mkdir(parents=True)
    images, labels, split, boxes, parts, sizes = {}, {}, {}, {}, {}, {}
    rng = np.random.default_rng(0)
    image_id = 0
    for class_id, (class_name, colour) in enumerate(zip(FAKE_CUB_CLASSES, FAKE_CUB_COLOURS), start=1):
        for k, ((width, height), train) in enumerate(zip(FAKE_CUB_SIZES, FAKE_CUB_IS_TRAIN)):
            image_id += 1
            relative = f"{class_name}/{class_name[4:]}_{k:04d}_{image_id}.jpg"
            pixels = np.clip(np.array(colour) + rng.normal(0, 20, (height, width, 3)), 0, 255)
            path = tree / "images" / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels.astype(np.uint8)).save(path, quality=95)
            images[image_id], labels[image_id], split[image_id] = relative, class_id, train
            sizes[image_id] = (width, height)
            boxes[image_id] = (2.0 + k, 3.0, width / 2, height / 2 + 0.5)
            parts[image_id] = [(10.0 + k, 12.0, 1), (0.0, 0.0, 0), (width - 1.0, height - 1.0, 1)]

    def write(name: str, rows) -> None:
        (tree / name).write_text("".join(" ".join(str(v) for v in row) + "\n" for row in rows))

    write("images.txt", images.items())
    write("classes.txt", enumerate(FAKE_CUB_CLASSES, start=1))
    write("image_class_labels.txt", labels.items())
    write("train_test_split.txt", split.items())
    write("bounding_boxes.txt", ((i, *box) for i, box in boxes.items()))
    write("parts/parts.txt", enumerate(FAKE_CUB_PARTS, start=1))
    write("parts/part_locs.txt", ((i, p, *loc) for i, locs in parts.items() for p, loc in enumerate(locs, 1)))
    (directory / "attributes.txt").write_text("1 has_bill_shape::curved\n")  # top level in the real archive

    archive = directory / "CUB_200_2011.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname="CUB_200_2011")
        tar.add(directory / "attributes.txt", arcname="attributes.txt")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    return FakeCUB(archive, md5, boxes, parts, sizes, labels, split)


def make_fake_imagenet_val(directory: Path, wnids: tuple[str, ...], sizes=((80, 60), (50, 90))) -> Path:
    """An ImageFolder with one JPEG per size in each wnid folder; returns ``directory``."""
    for wnid in wnids:
        (directory / wnid).mkdir(parents=True)
        for k, (width, height) in enumerate(sizes):
            image = Image.new("RGB", (width, height), (40 * k, 100, 200))
            image.save(directory / wnid / f"ILSVRC2012_val_{k:08d}.JPEG")
    return directory


def pattern_image(size: int) -> torch.Tensor:
    """A deterministic, non-random batch [2, 3, size, size] in [0, 1] (a pattern and its mirror)."""
    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    image = torch.stack([
        0.5 + 0.5 * torch.sin(2 * math.pi * (3 * x + y)),
        0.5 + 0.5 * torch.cos(2 * math.pi * 5 * x * y),
        4 * x * (1 - x) * y,
    ])
    return torch.stack([image, image.flip(-1)])


@lru_cache(maxsize=None)
def efficientnet_lite_model(variant: int):
    """EfficientNet-Lite``variant``, built once per test session (test files share it)."""
    from whynot.models.efficientnet import efficientnet_lite

    return efficientnet_lite(variant)
