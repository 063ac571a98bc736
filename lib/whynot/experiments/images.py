"""Which images the chapters evaluate, loaded in one place.

Each chapter's ``PLANS`` names ``(model, data, n)`` entries per profile; ``data`` is one of
:data:`DATA`, and a batch ``[start, stop)`` of it comes from :func:`load_images` (or, with the
SynthBirds masks, :func:`load_birds`). Any prefix of a plan is a fair sample: SynthBirds' test
split cycles through the classes, and ImageNet and CUB come in one seeded shuffle
(:func:`shuffled`), so ``n_images=`` and resumed shards see the same images.

>>> images, labels = load_images("synthbirds", model, seed=0, start=0, stop=8)  # doctest: +SKIP
"""
from __future__ import annotations

import os
from functools import lru_cache

import torch
from torch import Tensor, nn

IMAGENET_ENV = "WHYNOT_IMAGENET_VAL"  # full profile: the ImageNet validation folder (wnid folders)
CUB_ENV = "WHYNOT_CUB"  # full profile: the folder that holds CUB_200_2011
CUB_CHECKPOINT_ENV = "WHYNOT_CUB_VGG16_BN"  # full profile: a finetune_cub checkpoint of vgg16_bn

#: The data a plan may name, and which images it means.
DATA = {
    "synthbirds": "SynthBirds' test split (seed = the experiment's seed), in index order",
    "photos": "the bundled photos (whynot.data.photos.PHOTO_NAMES), in that order, unlabelled",
    "imagenet": f"ImageNet validation images from ${IMAGENET_ENV}, in the seeded shuffle",
    "cub": f"CUB-200-2011's test split from ${CUB_ENV}, in the seeded shuffle",
    "coco": "COCO val2017 with boxes, in image-id order (whynot.data.coco.COCOPointing)",
}
_WHAT = {
    IMAGENET_ENV: "the ImageNet validation folder (wnid folders)",
    CUB_ENV: "the folder that holds CUB_200_2011 (whynot.data.cub.download_cub)",
    CUB_CHECKPOINT_ENV: "the finetune_cub checkpoint of VGG16-BN on CUB "
                        "(python: whynot.models.finetune.finetune_cub)",
}


def environment(name: str) -> str:
    """The folder or file that ``$name`` (:data:`IMAGENET_ENV`, :data:`CUB_ENV`,
    :data:`CUB_CHECKPOINT_ENV`) names; a message that says what to set if it is unset."""
    value = os.environ.get(name)
    if not value:
        raise FileNotFoundError(f"set {name} to {_WHAT[name]}")
    return value


@lru_cache(maxsize=2)
def shuffled(n: int, seed: int) -> list[int]:
    """A seeded order of ``n`` items, so that any prefix of a run is a uniform sample."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()


def load_birds(seed: int, start: int = 0, stop: int | None = None):
    """SynthBirds test images ``[start, stop)`` (all from ``start`` if ``stop`` is None) with their
    labels, bird and part masks (:class:`whynot.data.synthetic.SynthBirds`)."""
    from whynot.data.synthetic import load_synthbirds

    return load_synthbirds("test", seed=seed, n=stop).subset(slice(start, stop))


def load_images(data: str, model: nn.Module, seed: int, start: int,
                stop: int) -> tuple[Tensor, Tensor | None]:
    """Images ``[start, stop)`` of ``data`` (:data:`DATA`) at the model's input size, and their
    labels (None for the unlabelled photos)."""
    if data == "synthbirds":
        birds = load_birds(seed, start, stop)
        return birds.images, birds.labels.long()
    if data == "photos":
        from whynot.data.photos import PHOTO_NAMES, load_photos

        return load_photos(PHOTO_NAMES[start:stop], size=model.whynot_meta["input_size"]), None
    folders = {"imagenet": (IMAGENET_ENV, imagenet_val), "cub": (CUB_ENV, cub_test)}
    if data not in folders:
        raise ValueError(f"unknown data {data!r}; one of synthbirds, photos, imagenet, cub")
    name, read = folders[data]
    root = environment(name)
    dataset = read(root, model.whynot_meta["input_size"])
    if stop > len(dataset):
        raise ValueError(f"{root} holds {len(dataset)} images, fewer than this plan's {stop}; "
                         "pass n_images= to the experiment, or point to the whole set")
    items = [dataset[i] for i in shuffled(len(dataset), seed)[start:stop]]
    return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])


@lru_cache(maxsize=2)
def imagenet_val(root: str, size: int):
    """The ImageNet validation folder ``root`` at ``size`` pixels, read once per process."""
    from whynot.data.imagenet import imagenet_val as folder

    return folder(root, size)


@lru_cache(maxsize=2)
def cub_test(root: str, size: int):
    """CUB-200-2011's test split under ``root`` at ``size`` pixels, read once per process."""
    from whynot.data.cub import CUB200

    return CUB200(root, "test", size=size)
