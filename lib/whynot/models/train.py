"""Seeded training of our SynthBirds models; ``python -m whynot.models.train`` rebuilds weights/.

Everything that decides the result is a function of the recipe and the seed: the data (generated
from the seed), the initialisation, the shuffling and the augmentation (one ``torch.Generator``).
Each checkpoint stores its recipe, its test metrics and a *fingerprint*, the training loss of its
first steps, so a test can re-run those steps and show that this code reproduces the weights.

    python -m whynot.models.train                       # every model missing from weights/
    python -m whynot.models.train --models synth_vgg --force
"""
from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from whynot.models.common import load_state_dict_strict
from whynot.models.small import (
    ARCHITECTURES, CHECKPOINT_FORMAT, TRAINED_MODELS, WEIGHTS_DIR, build, load_trained,
)
from whynot.utils import progress, save_json, save_torch

FINGERPRINT_STEPS = 20


@dataclass(frozen=True)
class Recipe:
    epochs: int
    lr: float
    weight_decay: float = 0.05
    batch_size: int = 64
    seed: int = 0
    label_smoothing: float = 0.0
    #: Initialise the model's ``backbone`` from this trained model and freeze it (weights and
    #: batch-norm statistics); only the rest is trained.
    backbone_from: str | None = None


RECIPES = {
    "synth_vgg": Recipe(epochs=24, lr=4e-3),
    "synth_resnet": Recipe(epochs=16, lr=4e-3),
    "synth_mobile": Recipe(epochs=16, lr=4e-3),
    # A ViT trained from scratch does not learn SynthBirds in 5 CPU minutes (see small.ViTSmall);
    # its tokens come from synth_resnet's frozen feature map instead. Retrain it after synth_resnet.
    "synth_vit": Recipe(epochs=12, lr=1e-3, backbone_from="synth_resnet"),
}


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flips and shifts of up to 4 pixels (reflect padding), seeded."""
    flip = torch.rand(len(images), generator=generator) < 0.5
    images = torch.where(flip[:, None, None, None], images.flip(-1), images)
    padded = nn.functional.pad(images, (4, 4, 4, 4), mode="reflect")
    dx, dy = torch.randint(0, 9, (2,), generator=generator).tolist()  # one shift per batch: cheap
    size = images.shape[-1]
    return padded[..., dy:dy + size, dx:dx + size]


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 256) -> dict:
    """Test accuracy and the share of images whose runner-up probability p2 exceeds 0.1."""
    model.eval()
    probs = torch.cat([model(batch).softmax(dim=1) for batch in images.split(batch_size)])
    p2 = probs.topk(2, dim=1).values[:, 1]
    return {
        "test_accuracy": (probs.argmax(dim=1) == labels).float().mean().item(),
        "p2_above_0.1": (p2 > 0.1).float().mean().item(),
        "test_images": len(labels),
    }


def freeze_backbone(backbone: nn.Module, source: str) -> None:
    """Copy the trained model ``source``'s modules of the same names into ``backbone``, freeze them."""
    trained = load_trained(source).net.state_dict()
    load_state_dict_strict(backbone, {k: trained[k] for k in backbone.state_dict()}, f"{source} backbone")
    backbone.requires_grad_(False)


def train(name: str, recipe: Recipe | None = None, steps: int | None = None, data_seed: int = 0):
    """Train ``name`` from scratch; returns ``(model, losses)``.

    ``steps`` stops early (the fingerprint test runs the first few steps only).
    """
    from whynot.data.synthetic import channel_stats, load_synthbirds

    recipe = recipe or RECIPES[name]
    torch.manual_seed(recipe.seed)
    generator = torch.Generator().manual_seed(recipe.seed)
    train_set = load_synthbirds("train", seed=data_seed)
    mean, std = channel_stats(seed=data_seed)
    model = build(name, mean, std)
    if recipe.backbone_from:
        freeze_backbone(model.net.backbone, recipe.backbone_from)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=recipe.lr, weight_decay=recipe.weight_decay)
    batches_per_epoch = len(train_set) // recipe.batch_size
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe.lr, total_steps=recipe.epochs * batches_per_epoch, pct_start=0.2
    )
    loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    losses: list[float] = []
    model.train()
    if recipe.backbone_from:
        model.net.backbone.eval()  # frozen batch-norm statistics
    for epoch in progress(range(recipe.epochs), desc=f"training {name}"):
        order = torch.randperm(len(train_set), generator=generator)
        for batch in order[: batches_per_epoch * recipe.batch_size].view(batches_per_epoch, -1):
            images = augment(train_set.images[batch], generator)
            loss = loss_fn(model(images), train_set.labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            if steps is not None and len(losses) >= steps:
                return model.eval(), losses
    return model.eval(), losses


def train_and_save(name: str, out: Path = WEIGHTS_DIR, data_seed: int = 0) -> dict:
    """Train ``name``, evaluate it on the test split, write its checkpoint atomically."""
    from whynot.data.synthetic import channel_stats, load_synthbirds

    recipe = RECIPES[name]
    start = time.perf_counter()
    model, losses = train(name, recipe, data_seed=data_seed)
    seconds = time.perf_counter() - start
    test = load_synthbirds("test", seed=data_seed)
    metrics = {**evaluate(model, test.images, test.labels), "train_seconds": round(seconds, 1),
               "torch_threads": torch.get_num_threads(), "torch_version": str(torch.__version__)}
    mean, std = channel_stats(seed=data_seed)
    save_torch({
        "format": CHECKPOINT_FORMAT, "name": name,
        "config": {"recipe": asdict(recipe), "data_seed": data_seed, "mean": mean, "std": std},
        "state_dict": model.state_dict(), "metrics": metrics,
        "fingerprint": losses[:FINGERPRINT_STEPS],
    }, out / f"{name}.pt")
    return metrics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(TRAINED_MODELS), choices=list(ARCHITECTURES))
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    parser.add_argument("--force", action="store_true", help="retrain models whose checkpoint exists")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    metrics_path = args.out / "metrics.json"
    import json

    summary = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    for name in args.models:
        if (args.out / f"{name}.pt").exists() and not args.force:
            print(f"{name}: checkpoint exists, skipped (--force retrains)")
            continue
        summary[name] = train_and_save(name, args.out)
        save_json(summary, metrics_path)  # after each model: an interrupted run resumes here
        print(f"{name}: {summary[name]}")


if __name__ == "__main__":
    main()
