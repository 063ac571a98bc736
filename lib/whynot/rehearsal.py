"""The full profile, rehearsed offline: every chapter's ``profile = "full"`` code path, end to end,
on small fixtures in the real data formats.

``python -m whynot.book execute --profile rehearsal [NAMES]`` calls :func:`prepare`, sets
``$WHYNOT_REHEARSAL=1`` and executes each notebook with ``profile = "full"``. With the variable
set, these things change and nothing else:

* the full profile evaluates :data:`N_IMAGES` real images (ImageNet, CUB, COCO) per experiment
  in batches of :data:`BATCH_SIZE` (:func:`whynot.experiments.plans.plan_batches`; SynthBirds
  runs as planned, on its small models), :func:`whynot.profiles.get_profile` says
  :data:`N_IMAGES`, and everything runs on the CPU;
* the notebooks' own samples (images drawn for figures, timing repeats, sanity checks) take the
  smoke profile's sizes (``Profile.few``), and the sanity checks randomise the top
  :data:`SANITY_LAYERS` layers only;
* torchvision's architectures come at seeded **random weights** (:func:`random_architecture`),
  the one substitution of what is computed: the pretrained weights cannot be downloaded here, so
  every number the rehearsal prints is meaningless, only that the code runs is checked;
* CNNs see :data:`INPUT_SIZE`-pixel inputs (their adaptive pooling allows it; AlexNet
  :data:`LARGER_INPUT`); ViT keeps 224.

The data go through the same functions as the real ones, checksums included: a
``CUB_200_2011.tgz`` with the real layout (15 parts, bounding boxes, train/test split) through
:func:`whynot.data.cub.download_cub` from a ``file://`` URL with the fixture's own MD5;
``val2017.zip`` and ``annotations_trainval2017.zip`` through :func:`whynot.data.coco.download_coco`;
an ImageNet validation folder of wnid folders; and a checkpoint that
:func:`whynot.models.finetune.finetune_cub` writes (one epoch on the fixture's training split).

>>> from whynot import rehearsal
>>> rehearsal.capped(5794), rehearsal.capped(None)
(2, 2)
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

PROFILE = "rehearsal"  # the book's name for it; the notebooks run with profile = "full"
REHEARSAL_ENV = "WHYNOT_REHEARSAL"
N_IMAGES = 2  # images per experiment
BATCH_SIZE = 1  # so that every experiment runs, stores and joins more than one batch
INPUT_SIZE = 32  # CNN input side: the deepest stride here (ResNet's, VGG's), four times
# cheaper than 64 pixels; a CAM layer of stride 32 is then one pixel, which the code must take
LARGER_INPUT = {"alexnet": 64}  # its max-pools need more: at 32 (and 48) pixels they fail
SANITY_LAYERS = 2  # layers the sanity checks randomise, from the top (the full profile: all)
FIXED_INPUT_SIZE = ("vit_",)  # architectures whose input size is fixed by their weights' layout

# CUB's first classes and its 15 parts, as the archive names them.
CUB_CLASSES = ("001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross",
               "004.Groove_billed_Ani")
CUB_PARTS = ("back", "beak", "belly", "breast", "crown", "forehead", "left eye", "left leg",
             "left wing", "nape", "right eye", "right leg", "right wing", "tail", "throat")
CUB_IMAGES_PER_CLASS = (1, 1, 0, 0)  # train flags: two training and two test images per class
# COCO categories with their real ids; "person" has no ImageNet counterpart (counted, not scored).
COCO_CATEGORIES = {1: "person", 2: "bicycle", 3: "car", 17: "cat", 18: "dog", 62: "chair"}
COCO_IMAGES = 4
# ImageNet classes (tench, goldfinch, golden retriever, tabby, bicycle-built-for-two, pizza,
# espresso, cup): 280 small images, as many as chapter 07's pool takes (real val: 50 000).
IMAGENET_CLASS_INDICES = (0, 11, 207, 281, 444, 963, 967, 968)
IMAGENET_IMAGES_PER_CLASS = 35
CHECKPOINT = "vgg16_bn_cub.pt"


def active() -> bool:
    """Whether this process rehearses the full profile (``$WHYNOT_REHEARSAL=1``)."""
    return os.environ.get(REHEARSAL_ENV) == "1"


def capped(n: int | None) -> int:
    """``n`` images (None: all of a plan) cut to the rehearsal's :data:`N_IMAGES`."""
    return N_IMAGES if n is None else min(n, N_IMAGES)


def batch_size(size: int) -> int:
    """A plan's batch ``size`` in the rehearsal."""
    return min(size, BATCH_SIZE)


def input_size(name: str, size: int) -> int:
    """The input side of torchvision's ``name`` in the rehearsal (``size`` outside it)."""
    if not active() or name.startswith(FIXED_INPUT_SIZE):
        return size
    return LARGER_INPUT.get(name, INPUT_SIZE)


def random_architecture(name: str):
    """torchvision's ``name`` at weights seeded by its name, in place of the pretrained ones."""
    from whynot.models.pretrained import build_architecture

    print(f"rehearsal: {name} at random weights (pretrained weights cannot be downloaded here), "
          f"{input_size(name, 224)}-pixel inputs")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(hashlib.sha256(name.encode()).hexdigest()[:8], 16))
        return build_architecture(name)


def announcement() -> str:
    """What the rehearsal substitutes, printed at the top of every rehearsed chapter."""
    larger = ", ".join(f"{name} {size}" for name, size in LARGER_INPUT.items())
    return (f"REHEARSAL of the full profile: its code path on small fixtures in the real formats "
            f"(CUB-200-2011, COCO val2017, ImageNet val, a finetune_cub checkpoint), {N_IMAGES} "
            f"images per experiment, the smoke profile's figure and timing samples, sanity "
            f"checks on the top {SANITY_LAYERS} layers, torchvision's architectures at RANDOM "
            f"WEIGHTS (pretrained weights cannot be downloaded here) and {INPUT_SIZE}-pixel CNN "
            f"inputs ({larger}). Every number below is meaningless; only that the chapter runs is "
            "checked.")


def _picture(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A noisy colour field with a brighter ellipse (something for a map to point at)."""
    colour = rng.integers(30, 220, 3)
    pixels = colour + rng.normal(0, 25, (height, width, 3))
    y, x = np.mgrid[:height, :width]
    centre_x, centre_y = rng.uniform(0.3, 0.7, 2) * (width, height)
    inside = ((x - centre_x) / (width / 4)) ** 2 + ((y - centre_y) / (height / 4)) ** 2 < 1
    pixels[inside] += 60
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def make_cub_archive(directory: Path, seed: int = 0) -> Path:
    """``directory/CUB_200_2011.tgz`` in the real layout (images, classes, labels, split,
    bounding boxes, 15 parts and their locations; ``attributes.txt`` beside the folder)."""
    rng = np.random.default_rng(seed)
    scratch = directory / "cub-tree"
    tree = scratch / "CUB_200_2011"
    (tree / "parts").mkdir(parents=True)
    images, labels, split, boxes, locations = [], [], [], [], []
    image_id = 0
    for class_id, class_name in enumerate(CUB_CLASSES, start=1):
        for k, is_train in enumerate(CUB_IMAGES_PER_CLASS):
            image_id += 1
            width, height = int(rng.integers(70, 110)), int(rng.integers(60, 100))
            relative = f"{class_name}/{class_name[4:]}_{k + 1:04d}_{image_id}.jpg"
            (tree / "images" / relative).parent.mkdir(parents=True, exist_ok=True)
            _picture(rng, width, height).save(tree / "images" / relative, quality=90)
            images.append(f"{image_id} {relative}")
            labels.append(f"{image_id} {class_id}")
            split.append(f"{image_id} {is_train}")
            boxes.append(f"{image_id} {width * 0.2:.1f} {height * 0.15:.1f} {width * 0.6:.1f} "
                         f"{height * 0.7:.1f}")
            for part_id in range(1, len(CUB_PARTS) + 1):
                visible = int(rng.random() < 0.7)
                x, y = rng.uniform(0.25, 0.75) * width, rng.uniform(0.2, 0.8) * height
                if not visible:
                    x = y = 0  # the archive's convention for a hidden part
                locations.append(f"{image_id} {part_id} {x:.1f} {y:.1f} {visible}")

    def write(name: str, lines: list[str]) -> None:
        (tree / name).write_text("\n".join(lines) + "\n")

    write("images.txt", images)
    write("classes.txt", [f"{i} {name}" for i, name in enumerate(CUB_CLASSES, start=1)])
    write("image_class_labels.txt", labels)
    write("train_test_split.txt", split)
    write("bounding_boxes.txt", boxes)
    write("parts/parts.txt", [f"{i} {name}" for i, name in enumerate(CUB_PARTS, start=1)])
    write("parts/part_locs.txt", locations)
    (scratch / "attributes.txt").write_text("1 has_bill_shape::curved_(up_or_down)\n")
    archive = directory / "CUB_200_2011.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname="CUB_200_2011")
        tar.add(scratch / "attributes.txt", arcname="attributes.txt")
    shutil.rmtree(scratch)
    return archive


def make_coco_archives(directory: Path, seed: int = 0) -> dict[str, Path]:
    """``val2017.zip`` (JPEGs named by image id) and ``annotations_trainval2017.zip`` (with
    ``annotations/instances_val2017.json`` in COCO's instances format) in ``directory``."""
    rng = np.random.default_rng(seed)
    ids = sorted(COCO_CATEGORIES)
    images, annotations = [], []
    val = zipfile.ZipFile(directory / "val2017.zip", "w")
    for k in range(COCO_IMAGES):
        image_id = 139 + 146 * k
        width, height = int(rng.integers(80, 120)), int(rng.integers(60, 100))
        file_name = f"{image_id:012d}.jpg"
        path = directory / file_name
        _picture(rng, width, height).save(path, quality=90)
        val.write(path, f"val2017/{file_name}")
        path.unlink()
        images.append({"license": 4, "file_name": file_name, "height": height, "width": width,
                       "id": image_id,
                       "coco_url": f"http://images.cocodataset.org/val2017/{file_name}"})
        for category in (ids[0], ids[1 + k % (len(ids) - 1)], ids[1 + (k + 2) % (len(ids) - 1)]):
            x, y = rng.uniform(0, 0.5) * width, rng.uniform(0, 0.5) * height
            w, h = rng.uniform(0.2, 0.5) * width, rng.uniform(0.2, 0.5) * height
            annotations.append({"segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]],
                                "area": w * h, "iscrowd": 0, "image_id": image_id,
                                "bbox": [x, y, w, h], "category_id": category,
                                "id": len(annotations) + 1})
    val.close()
    instances = {"info": {"description": "whynot rehearsal fixture in COCO 2017's format"},
                 "licenses": [], "images": images, "annotations": annotations,
                 "categories": [{"supercategory": "", "id": i, "name": COCO_CATEGORIES[i]}
                                for i in ids]}
    with zipfile.ZipFile(directory / "annotations_trainval2017.zip", "w") as zipped:
        zipped.writestr("annotations/instances_val2017.json", json.dumps(instances))
    return {name: directory / name for name in ("val2017.zip", "annotations_trainval2017.zip")}


def make_imagenet_val(directory: Path, seed: int = 0) -> Path:
    """An ImageNet validation folder: a few wnid folders of ``ILSVRC2012_val_*.JPEG`` files."""
    from whynot.data.imagenet import IMAGENET_WNIDS

    rng = np.random.default_rng(seed)
    number = 0
    for index in IMAGENET_CLASS_INDICES:
        (directory / IMAGENET_WNIDS[index]).mkdir(parents=True)
        for _ in range(IMAGENET_IMAGES_PER_CLASS):
            number += 1
            picture = _picture(rng, int(rng.integers(72, 100)), int(rng.integers(72, 100)))
            picture.save(directory / IMAGENET_WNIDS[index] / f"ILSVRC2012_val_{number:08d}.JPEG")
    return directory


def make_checkpoint(cub_root: Path, path: Path) -> Path:
    """A :func:`~whynot.models.finetune.finetune_cub` checkpoint of ``vgg16_bn_cub``: one epoch
    on the fixture's training split at :data:`INPUT_SIZE` pixels (random ImageNet weights first,
    as everywhere in the rehearsal); momentum 0 keeps the file at the model's size."""
    from whynot.data.cub import CUB200, cub_train_transform
    from whynot.models.finetune import cub_vgg16_bn, finetune_cub

    train = CUB200(cub_root, "train", transform=cub_train_transform(INPUT_SIZE))
    model = cub_vgg16_bn(train.class_names)
    finetune_cub(model, train, epochs=1, checkpoint_path=path, batch_size=len(train), momentum=0.0)
    return path


def prepare(directory: str | os.PathLike) -> dict[str, str]:
    """Build the fixtures under ``directory``, download them through the library's own
    functions and return the environment the rehearsed notebooks need (data folders, the
    checkpoint, an empty ``$WHYNOT_CACHE``, ``$WHYNOT_REHEARSAL=1``).

    Everything but the checkpoint (the one slow fixture, kept in ``directory/checkpoint``) is
    rebuilt on every call, so the downloads and every experiment run again."""
    from whynot.data.coco import COCO_ENV, download_coco
    from whynot.data.cub import download_cub
    from whynot.experiments.images import CUB_CHECKPOINT_ENV, CUB_ENV, IMAGENET_ENV
    from whynot.utils import CACHE_ENV

    directory = Path(directory).resolve()
    data = directory / "data"
    shutil.rmtree(data, ignore_errors=True)
    archives = data / "archives"
    archives.mkdir(parents=True)
    cub_archive = make_cub_archive(archives)
    cub = download_cub(data / "cub", url=cub_archive.as_uri(), md5=md5_of(cub_archive))
    coco_zips = {name: (path.as_uri(), md5_of(path))
                 for name, path in make_coco_archives(archives).items()}
    coco = download_coco(data / "coco", zips=coco_zips)
    imagenet = make_imagenet_val(data / "imagenet-val")
    checkpoint = directory / "checkpoint" / CHECKPOINT
    if not checkpoint.is_file():
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        os.environ[REHEARSAL_ENV] = "1"  # random weights for the ImageNet start
        make_checkpoint(cub, checkpoint)
    (data / "cache").mkdir()
    return {REHEARSAL_ENV: "1", CUB_ENV: str(cub.parent), COCO_ENV: str(coco),
            IMAGENET_ENV: str(imagenet), CUB_CHECKPOINT_ENV: str(checkpoint),
            CACHE_ENV: str(data / "cache")}
