"""The authors' CUB-200-2011 fine-tuning recipe (YW ``train.py``), resumable.

ImageNet-pretrained ``vgg16_bn`` with ``classifier[6] = Linear(4096, 200)``; SGD lr 1e-3,
momentum 0.9, weight decay 5e-4, batch 128, 200 epochs, cross-entropy, the last epoch kept
(their MultiStepLR milestone at epoch 200 never fires, so the learning rate is constant).
Train/test transforms: :func:`cub_train_transform` / :func:`cub_test_transform`.

Each epoch is checkpointed atomically (model, optimizer, epoch, history); calling
:func:`finetune_cub` again with the same ``checkpoint_path`` resumes after the last finished
epoch. Every epoch's shuffling, augmentation and dropout are seeded by ``(seed, epoch)``, so a
resumed run gives the same weights as an uninterrupted one (on the same device and software).

>>> from whynot.data.cub import CUB200
>>> train = CUB200("~/data", "train", transform=cub_train_transform())        # doctest: +SKIP
>>> model = cub_vgg16_bn(train.class_names)                                   # doctest: +SKIP
>>> history = finetune_cub(model, train, epochs=200, checkpoint_path="vgg16_bn_cub.pt", device="cuda")  # doctest: +SKIP
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from whynot.data.cub import cub_test_transform, cub_train_transform
from whynot.models.common import CheckpointError, NormalizedModel, load_state_dict_strict
from whynot.models.pretrained import build_architecture, pretrained_model, wrap_torchvision
from whynot.utils import progress, save_torch

__all__ = ["cub_train_transform", "cub_test_transform", "cub_vgg16_bn", "finetune_cub", "load_finetuned"]

EPOCHS = 200
BATCH_SIZE = 128
LEARNING_RATE = 1e-3
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4


def cub_vgg16_bn(class_names: Sequence[str], imagenet_weights: bool = True,
                 imagenet_weights_path: str | os.PathLike | None = None, seed: int = 0) -> NormalizedModel:
    """vgg16_bn with a fresh ``Linear(4096, len(class_names))`` head, ready for :func:`finetune_cub`.

    ``imagenet_weights=False`` skips the ImageNet weights (to load a fine-tuned checkpoint next,
    with :func:`load_finetuned`). The new head's initialisation is seeded by ``seed``.
    """
    if imagenet_weights:
        model = pretrained_model("vgg16_bn", weights_path=imagenet_weights_path)
    else:
        model = wrap_torchvision("vgg16_bn", build_architecture("vgg16_bn"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model.net.classifier[6] = nn.Linear(4096, len(class_names))
    model.whynot_meta.update(name="vgg16_bn_cub", class_names=tuple(class_names))
    return model.eval()


def _epoch_seed(seed: int, epoch: int) -> int:
    return seed * 100_003 + epoch  # distinct for every (seed, epoch) with epoch < 100003


def finetune_cub(
    model: nn.Module,
    train_set: torch.utils.data.Dataset,
    epochs: int = EPOCHS,
    *,
    checkpoint_path: str | os.PathLike,
    batch_size: int = BATCH_SIZE,
    lr: float = LEARNING_RATE,
    momentum: float = MOMENTUM,
    weight_decay: float = WEIGHT_DECAY,
    device: str | torch.device | None = None,
    num_workers: int = 0,
    seed: int = 0,
) -> list[dict[str, float]]:
    """Train ``model`` on ``train_set`` (items ``(image, label)``) for ``epochs`` epochs in total.

    Resumes from ``checkpoint_path`` if it exists, and saves it after every epoch. Returns the
    per-epoch history ``[{"epoch": 1, "loss": ..., "accuracy": ...}, ...]`` (training set, under
    augmentation); leaves the model in eval mode on ``device`` (default: the model's device).
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    checkpoint_path = Path(checkpoint_path)
    history, start = [], 0
    if checkpoint_path.exists():
        history, start = _resume(model, optimizer, checkpoint_path, device)
    criterion = nn.CrossEntropyLoss()
    for epoch in range(start, epochs):
        torch.manual_seed(_epoch_seed(seed, epoch))  # augmentation and dropout of this epoch
        loader = torch.utils.data.DataLoader(
            train_set, batch_size=batch_size, shuffle=True, num_workers=num_workers,
            generator=torch.Generator().manual_seed(_epoch_seed(seed, epoch)),
        )
        model.train()
        total_loss, correct, count = 0.0, 0, 0
        for images, labels in progress(loader, desc=f"epoch {epoch + 1}/{epochs}", leave=False):
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad(set_to_none=True)
            logits = model(images)
            loss = criterion(logits, labels)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(labels)
            correct += (logits.argmax(1) == labels).sum().item()
            count += len(labels)
        history.append({"epoch": epoch + 1, "loss": total_loss / count, "accuracy": correct / count})
        save_torch({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch + 1,
                    "history": history}, checkpoint_path)
    model.eval()
    return history


def _read_checkpoint(path: Path, device: torch.device) -> dict:
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
        missing = {"model", "optimizer", "epoch", "history"} - set(checkpoint)
    except Exception as error:
        raise CheckpointError(f"cannot read {path} ({error!r}); delete it to start over") from error
    if missing:
        raise CheckpointError(
            f"{path} is not a finetune_cub checkpoint (no {sorted(missing)}); delete it to start over"
        )
    return checkpoint


def _resume(model: nn.Module, optimizer: torch.optim.Optimizer, path: Path, device: torch.device):
    checkpoint = _read_checkpoint(path, device)
    load_state_dict_strict(model, checkpoint["model"], str(path))
    optimizer.load_state_dict(checkpoint["optimizer"])
    return list(checkpoint["history"]), int(checkpoint["epoch"])


def load_finetuned(model: nn.Module, checkpoint_path: str | os.PathLike) -> nn.Module:
    """Copy the weights of a :func:`finetune_cub` checkpoint into ``model``; return it in eval mode.

    >>> model = load_finetuned(cub_vgg16_bn(class_names, imagenet_weights=False), "vgg16_bn_cub.pt")  # doctest: +SKIP
    """
    checkpoint = _read_checkpoint(Path(checkpoint_path), torch.device("cpu"))
    load_state_dict_strict(model, checkpoint["model"], str(checkpoint_path))
    return model.eval()
