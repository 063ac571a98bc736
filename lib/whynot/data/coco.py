"""COCO val2017 for the pointing game: download, verify, parse the instances file, boxes as masks.

Layout after :func:`download_coco` (the official zips, unpacked)::

    ROOT/val2017/000000000139.jpg, ...                  (5000 images)
    ROOT/annotations/instances_val2017.json             (images, annotations, categories)

The instances file is the official format: ``images`` (``id``, ``file_name``, ``width``,
``height``), ``annotations`` (``image_id``, ``category_id``, ``bbox = [x, y, w, h]`` in pixels
of the original image, ``iscrowd``) and ``categories`` (``id``, ``name``).

**Protocol** (Zhang et al., 2016/2018, "pointing game", as Group-CAM runs it on COCO val2017):
for every image and every category present in it, explain that category; a hit when the map's
maximum lies within 15 pixels (at 224, scaled) of any box of the category; the accuracy is
``#hits / (#hits + #misses)`` per category, averaged over categories. Group-CAM explains a
ResNet-50 trained on COCO; the Abs-CAM paper does not say which data or model its Table 3 used.
We explain an ImageNet classifier (VGG16), so each COCO category that has ImageNet counterparts
(:data:`COCO_TO_IMAGENET`, 56 of the 80; "person" has none) is explained as the counterpart
with the highest logit on the image; the other categories are counted, not scored. Images are
resized to ``size x size`` without cropping, so every box stays in the picture.

>>> download_coco("~/data/coco")                                  # doctest: +SKIP
>>> pointing = COCOPointing("~/data/coco", size=224)              # doctest: +SKIP
>>> image, targets = pointing[0]; targets[0].category, targets[0].mask.shape   # doctest: +SKIP
('dog', torch.Size([224, 224]))
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torchvision.transforms import v2

from whynot.data.cub import fetch
from whynot.data.imagenet import check_image_size

COCO_ENV = "WHYNOT_COCO"  # full profile: the folder that holds val2017/ and annotations/
# The official archives and their MD5 sums (as cocodataset.org serves them).
COCO_ZIPS = {
    "val2017.zip": ("http://images.cocodataset.org/zips/val2017.zip", "442b8da7639aecaf257c1dceb8ba8c80"),
    "annotations_trainval2017.zip": ("http://images.cocodataset.org/annotations/annotations_trainval2017.zip",
                                     "f4bbac642086de4f52a3fdda2de5fa2c"),
}
IMAGES = "val2017"
INSTANCES = "annotations/instances_val2017.json"


def _span(first: int, last: int) -> tuple[int, ...]:
    return tuple(range(first, last + 1))


#: COCO category -> the ImageNet-1k classes that depict it (indices of
#: :data:`whynot.data.imagenet.IMAGENET_CLASSES`); categories without a counterpart are absent.
COCO_TO_IMAGENET: dict[str, tuple[int, ...]] = {
    "bicycle": (444, 671), "car": (436, 468, 511, 609, 627, 656, 661, 717, 751, 817),
    "motorcycle": (665, 670), "airplane": (404, 895), "bus": (654, 779, 874),
    "train": (466, 547, 565, 705, 820), "truck": (555, 569, 675, 717, 734, 864, 867),
    "boat": (472, 484, 510, 554, 576, 625, 628, 724, 780, 814, 833, 871, 914),
    "traffic light": (920,), "parking meter": (704,), "bench": (703,),
    "bird": _span(7, 24) + _span(80, 100) + _span(127, 146), "cat": _span(281, 285),
    "dog": _span(151, 268), "horse": (339,), "sheep": (348,), "cow": (345,),
    "elephant": (101, 385, 386), "bear": _span(294, 297), "zebra": (340,),
    "backpack": (414,), "umbrella": (879,), "handbag": (748,), "tie": (457, 906), "skis": (795,),
    "sports ball": (429, 430, 574, 768, 805, 852, 890), "tennis racket": (752,),
    "bottle": (440, 720, 737, 898, 907), "cup": (504, 968), "spoon": (910,), "bowl": (659, 809),
    "banana": (954,), "apple": (948,), "orange": (950,), "broccoli": (937,), "hot dog": (934,),
    "pizza": (963,), "chair": (423, 559, 765, 857), "couch": (831,), "potted plant": (738,),
    "bed": (564,), "dining table": (532,), "toilet": (861,), "tv": (664, 851), "laptop": (620,),
    "mouse": (673,), "remote": (761,), "keyboard": (508,), "cell phone": (487,),
    "microwave": (651,), "toaster": (859,), "refrigerator": (760,), "clock": (409, 530, 892),
    "vase": (883,), "teddy bear": (850,), "hair drier": (589,),
}


class CocoFormatError(ValueError):
    """The instances file is not valid JSON or not in COCO's instances format."""


def _missing_message(path: Path) -> str:
    return (f"COCO val2017 not found: expected {path}. Run `whynot.data.coco.download_coco(ROOT)` "
            f"(downloads and verifies the official val2017.zip, 778 MB, and annotations_trainval2017.zip, "
            f"241 MB, from cocodataset.org) or unpack them by hand into ROOT, and set {COCO_ENV}=ROOT.")


def download_coco(root: str | os.PathLike,
                  zips: dict[str, tuple[str, str]] | None = None) -> Path:
    """Download, verify (MD5) and unpack COCO val2017 images and instances into ``root``.

    Each archive is fetched into a temporary folder inside ``root`` and checked before anything
    is moved into place, so a failed or corrupt download leaves nothing behind; parts already
    present are skipped. ``zips`` maps each archive name of :data:`COCO_ZIPS` to its
    ``(url, md5)`` (a mirror, or a local ``file://`` copy; default: :data:`COCO_ZIPS`).
    Returns ``root``.
    """
    zips = COCO_ZIPS if zips is None else zips
    root = Path(root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    wanted = {"val2017.zip": [IMAGES], "annotations_trainval2017.zip": [INSTANCES]}
    for archive_name, members in wanted.items():
        if all((root / member).exists() for member in members):
            continue
        if archive_name not in zips:
            raise KeyError(f"zips has no {archive_name!r}; give (url, md5) for each of "
                           f"{sorted(COCO_ZIPS)}")
        url, md5 = zips[archive_name]
        with tempfile.TemporaryDirectory(dir=root, prefix=".coco-download-") as scratch:
            archive = Path(scratch) / archive_name
            actual = fetch(url, archive, hint=f"Download {archive_name} by hand and unpack it into {root}.")
            if actual != md5:
                raise ValueError(f"checksum mismatch for {url}: MD5 {actual}, expected {md5}. The download is "
                                 "corrupt; nothing was kept. Try again.")
            with zipfile.ZipFile(archive) as zipped:
                zipped.extractall(scratch)
            for member in members:
                source = Path(scratch) / member
                if not source.exists():
                    raise ValueError(f"{url} passed the checksum but holds no {member}")
                (root / member).parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(source), root / member)
    return root


@dataclass(frozen=True)
class CocoInstances:
    """A parsed instances file: ``images`` id -> ``(file_name, width, height)``; ``categories``
    id -> name; ``boxes`` image id -> ``[(category_id, (x, y, w, h)), ...]`` (crowd regions
    included: they mark where the category is)."""

    images: dict[int, tuple[str, int, int]]
    categories: dict[int, str]
    boxes: dict[int, list[tuple[int, tuple[float, float, float, float]]]]


def load_instances(path: str | os.PathLike) -> CocoInstances:
    """Parse a COCO instances JSON file (:class:`CocoInstances`), with errors that name the problem."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(_missing_message(path))
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CocoFormatError(f"{path} is not valid JSON ({error}); the file is corrupt or truncated. Delete it "
                              "and run download_coco again.") from None
    missing = [key for key in ("images", "annotations", "categories") if key not in data]
    if not isinstance(data, dict) or missing:
        raise CocoFormatError(f"{path} is not a COCO instances file: it lacks {missing or 'a top-level object'}. "
                              f"Pass annotations/instances_val2017.json.")
    try:
        images = {int(i["id"]): (str(i["file_name"]), int(i["width"]), int(i["height"])) for i in data["images"]}
        categories = {int(c["id"]): str(c["name"]) for c in data["categories"]}
        boxes: dict[int, list] = {}
        for annotation in data["annotations"]:
            x, y, w, h = (float(v) for v in annotation["bbox"])
            image, category = int(annotation["image_id"]), int(annotation["category_id"])
            if image not in images or category not in categories or w < 0 or h < 0:
                raise ValueError(f"annotation {annotation.get('id')} names image {image}, category {category}, "
                                 f"box {annotation['bbox']}")
            boxes.setdefault(image, []).append((category, (x, y, w, h)))
    except (KeyError, TypeError, ValueError) as error:
        raise CocoFormatError(f"{path} does not follow COCO's instances format ({type(error).__name__}: {error}); "
                              "expected images with id/file_name/width/height, annotations with image_id/"
                              "category_id/bbox [x, y, w, h], categories with id/name.") from None
    return CocoInstances(images, categories, boxes)


def box_mask(boxes: list[tuple[float, float, float, float]], width: int, height: int, size: int) -> Tensor:
    """Boolean ``[size, size]`` mask of the union of ``(x, y, w, h)`` boxes of a ``width x height``
    image resized to ``size x size``: a pixel is inside when its centre, mapped back to the
    original image, lies in a box (edges included).

    >>> box_mask([(0, 0, 50, 100)], width=100, height=100, size=4).int().tolist()[0]
    [1, 1, 0, 0]
    """
    centres = (torch.arange(size, dtype=torch.float64) + 0.5) / size
    xs, ys = centres * width, centres * height
    mask = torch.zeros(size, size, dtype=torch.bool)
    for x, y, w, h in boxes:
        mask |= ((ys >= y) & (ys <= y + h))[:, None] & ((xs >= x) & (xs <= x + w))[None, :]
    return mask


class PointingTarget(NamedTuple):
    """One category of one image: its ``name``, the ``mask`` of its boxes, its ImageNet ``classes``."""

    category: str
    mask: Tensor
    classes: tuple[int, ...]

    def best_class(self, logits: Tensor) -> int:
        """The counterpart with the highest logit (``logits [1000]`` of the image)."""
        index = torch.as_tensor(self.classes, device=logits.device)
        return int(index[logits[index].argmax()])


class COCOPointing(torch.utils.data.Dataset):
    """COCO val2017 images with at least one mapped category, in image-id order: item ``i`` is
    ``(image [3, size, size] in [0, 1], [PointingTarget, ...])`` (the pointing game's tolerance
    for ``size``: :func:`whynot.metrics.pointing_game.pixel_tolerance`). ``skipped``: category
    names present but unmapped, with their counts (e.g. ``person``)."""

    def __init__(self, root: str | os.PathLike, size: int = 224, instances: CocoInstances | None = None):
        self.root = Path(root).expanduser()
        self.size = check_image_size(size)
        self.instances = instances or load_instances(self.root / INSTANCES)
        self.transform = v2.Compose([v2.Resize((size, size), antialias=True), v2.ToImage(),
                                     v2.ToDtype(torch.float32, scale=True)])
        self.ids, self.skipped = [], {}
        for image in sorted(self.instances.boxes):
            names = {self.instances.categories[c] for c, _ in self.instances.boxes[image]}
            for name in names - COCO_TO_IMAGENET.keys():
                self.skipped[name] = self.skipped.get(name, 0) + 1
            if names & COCO_TO_IMAGENET.keys():
                self.ids.append(image)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[Tensor, list[PointingTarget]]:
        image_id = self.ids[index]
        file_name, width, height = self.instances.images[image_id]
        path = self.root / IMAGES / file_name
        try:
            with Image.open(path) as picture:
                image = self.transform(picture.convert("RGB"))
        except FileNotFoundError:
            raise FileNotFoundError(_missing_message(path)) from None
        except (UnidentifiedImageError, OSError) as error:
            raise ValueError(f"cannot read {path} ({error}); the image is corrupt. Delete {self.root / IMAGES} "
                             "and run download_coco again.") from None
        by_category: dict[str, list] = {}
        for category, box in self.instances.boxes[image_id]:
            by_category.setdefault(self.instances.categories[category], []).append(box)
        targets = [PointingTarget(name, box_mask(boxes, width, height, self.size), COCO_TO_IMAGENET[name])
                   for name, boxes in sorted(by_category.items()) if name in COCO_TO_IMAGENET]
        return image, targets


def coco_pointing_from_env(size: int = 224) -> COCOPointing:
    """:class:`COCOPointing` of the folder named by ``$WHYNOT_COCO`` (full profile), parsed once
    per process."""
    root = os.environ.get(COCO_ENV)
    if not root:
        raise FileNotFoundError(f"set {COCO_ENV} to the folder that holds val2017/ and annotations/ "
                                "(whynot.data.coco.download_coco(ROOT) makes it).")
    return _pointing(root, size)


@lru_cache(maxsize=2)
def _pointing(root: str, size: int) -> COCOPointing:
    return COCOPointing(root, size)
