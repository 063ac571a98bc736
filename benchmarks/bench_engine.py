"""Our engine vs the peers' usual way, for the paper's 4 contrasts x top-3 classes = 12 maps.

    python benchmarks/bench_engine.py                      # vgg16_bn, batch 16, 224x224 (minutes)
    python benchmarks/bench_engine.py --batch 4 --repeats 2   # quicker

Every time is a median over ``--repeats`` runs after one warm-up call, and is reported as a ratio
to one plain forward pass of the same batch under ``torch.no_grad()`` (what a user would run).
See benchmarks/README.md for what each column means. Results go to _build/bench/engine.json.
"""
from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision
from captum.attr import Saliency
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.base_cam import BaseCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget, ClassifierOutputTarget

import whynot
from whynot.models.common import IMAGENET_MEAN, IMAGENET_STD, NormalizedModel
from whynot.targets import strongest_other
from whynot.utils import save_json
from common import cpu_name, seconds

CONTRASTS = ("logit", "weighted", "mean", "max")  # the paper's original, weighted, mean, max
TOPK = 3
DEFAULT_LAYERS = {"vgg16_bn": "net.features.40"}  # the authors' layer; others: the last Conv2d
OUTPUT = Path(__file__).resolve().parents[1] / "_build" / "bench" / "engine.json"


class LinearApproximationCAM(BaseCAM):
    """LA for pytorch-grad-cam: the simplest BaseCAM subclass (its map is not channel-weighted)."""

    def get_cam_image(self, input_tensor, target_layer, targets, activations, grads, eigen_smooth=False):
        return (grads * activations).sum(axis=1)


class FixedVectorTarget:
    """A pytorch-grad-cam target ``v^T y`` (mean and max contrasts, v from the unmasked image)."""

    def __init__(self, vector: torch.Tensor):
        self.vector = vector

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        return model_output @ self.vector


def peer_cam_targets(logits: torch.Tensor, classes: torch.Tensor, contrast: str) -> list:
    """What a pytorch-grad-cam user writes: weighted = the softmax target (Prop. 2)."""
    if contrast == "logit":
        return [ClassifierOutputTarget(t) for t in classes.tolist()]
    if contrast == "weighted":
        return [ClassifierOutputSoftmaxTarget(t) for t in classes.tolist()]
    eye = torch.eye(logits.shape[1], device=logits.device)
    if contrast == "mean":
        return [FixedVectorTarget(eye[t] - (1 - eye[t]) / (logits.shape[1] - 1)) for t in classes.tolist()]
    others = strongest_other(logits, classes[:, None])[:, 0]
    return [FixedVectorTarget(eye[t] - eye[s]) for t, s in zip(classes.tolist(), others.tolist())]


def peer_cam(cam_class: type[BaseCAM], model, layer, images) -> Callable[[int], None]:
    """One pytorch-grad-cam call per (contrast, target), ``maps`` of the 12 (for warm-up: 1)."""

    def run(maps: int = len(CONTRASTS) * TOPK) -> None:
        with torch.no_grad():
            logits = model(images)  # the user's top-3 classes
        top = logits.topk(TOPK).indices
        calls = [(contrast, k) for contrast in CONTRASTS for k in range(TOPK)][:maps]
        with cam_class(model, target_layers=[layer]) as cam:
            for contrast, k in calls:
                cam(input_tensor=images, targets=peer_cam_targets(logits, top[:, k], contrast))
        model.zero_grad(set_to_none=True)

    return run


def contrast_forward(model, contrast: str, logits: torch.Tensor, target: torch.Tensor) -> Callable:
    """A forward whose output at ``target`` is the contrast: what a captum user would wrap."""
    count = logits.shape[1]
    if contrast == "logit":
        return model
    if contrast == "weighted":
        return lambda x: model(x).softmax(1)  # Prop. 2: weighted ~ gradient of p_t
    if contrast == "mean":
        mean_head = torch.eye(count) * count / (count - 1) - 1 / (count - 1)
        return lambda x: model(x) @ mean_head
    other = strongest_other(logits, target[:, None])

    def max_contrast(x):
        y = model(x)
        return y - y.gather(1, other)

    return max_contrast


def peer_gradient(model, images) -> Callable[[int], None]:
    """captum ``Saliency(abs=False)``: one call per (contrast, target)."""

    def run(maps: int = len(CONTRASTS) * TOPK) -> None:
        with torch.no_grad():
            logits = model(images)
        top = logits.topk(TOPK).indices
        calls = [(contrast, k) for contrast in CONTRASTS for k in range(TOPK)][:maps]
        for contrast, k in calls:
            forward = contrast_forward(model, contrast, logits, top[:, k])
            Saliency(forward).attribute(images, target=top[:, k].tolist(), abs=False)

    return run


def paired_medians(run: Callable[[], object], forward: Callable[[], object], repeats: int) -> dict[str, float]:
    """Median seconds of ``run`` and of its ratio to a forward pass timed right before it.

    Pairing each run with its own forward pass cancels most of the drift in the machine's load.
    """
    pairs = [(seconds(forward), seconds(run)) for _ in range(repeats)]
    return {
        "forward_s": statistics.median(f for f, _ in pairs),
        "run_s": statistics.median(r for _, r in pairs),
        "ratio": statistics.median(r / f for f, r in pairs),
    }


def build_model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    net = getattr(torchvision.models, name)(weights=None)
    return NormalizedModel(net, IMAGENET_MEAN, IMAGENET_STD, {"name": name, "default_layer": DEFAULT_LAYERS.get(name)}).eval()


def measure(method: str, model, images, layer_name: str, peer_run, forward, repeats: int) -> dict:
    """Our one call and the peer's 12 calls for ``method``, each paired with forward passes."""
    passes = {}

    def ours() -> None:
        explanation = whynot.explain(
            model, images, method=method, layer=layer_name if method != "gradient" else None,
            topk=TOPK, contrast=CONTRASTS, return_explanation=True,
        )
        passes["count"] = explanation.backward_passes

    ours()
    ours_times = paired_medians(ours, forward, repeats)
    peer_run(1)
    peer_times = paired_medians(peer_run, forward, repeats)
    return {
        "maps_per_image": len(CONTRASTS) * TOPK,
        "forward_s": statistics.median([ours_times["forward_s"], peer_times["forward_s"]]),
        "ours_s": ours_times["run_s"],
        "ours_ratio": ours_times["ratio"],
        "backward_passes": passes["count"],
        "peer_s": peer_times["run_s"],
        "peer_ratio": peer_times["ratio"],
        "speedup": peer_times["run_s"] / ours_times["run_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="vgg16_bn", help="a torchvision classifier (random weights)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--methods", default="gradcam,la,gradient", help="comma-separated subset")
    parser.add_argument("--out", type=Path, default=OUTPUT)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    model = build_model(args.model)
    images = torch.rand(args.batch, 3, args.size, args.size, generator=torch.Generator().manual_seed(0))
    layer_name = model.whynot_meta["default_layer"] or whynot.explainers.GradCAM(model).layer_name
    layer = model.get_submodule(layer_name)
    peers = {
        "gradcam": ("pytorch-grad-cam GradCAM, one call per map", peer_cam(GradCAM, model, layer, images)),
        "la": ("pytorch-grad-cam BaseCAM subclass for LA, one call per map",
               peer_cam(LinearApproximationCAM, model, layer, images)),
        "gradient": ("captum Saliency(abs=False), one call per map", peer_gradient(model, images)),
    }
    setup = {
        "torch": torch.__version__, "threads": args.threads, "cpu": cpu_name(), "model": args.model,
        "layer": layer_name, "batch": args.batch, "size": args.size, "repeats": args.repeats,
        "contrasts": list(CONTRASTS), "topk": TOPK,
        "forward": "model(images) under torch.no_grad(), timed right before each run",
        "statistic": "medians over repeats after one warm-up; ratios are medians of per-repeat ratios",
    }

    def forward() -> None:
        with torch.no_grad():
            model(images)

    forward()
    print(f"{args.model}, batch {args.batch}, {args.size}x{args.size}, layer {layer_name}, {args.threads} threads, "
          f"torch {torch.__version__}, {setup['cpu']}")
    print(f"ratios to a plain forward pass (torch.no_grad) timed before each run; medians of {args.repeats} "
          "after one warm-up\n")
    print(f"{'method':<9} {'maps':>4} {'fwd s':>7} {'ours s':>8} {'ours/fwd':>9} {'passes':>6} {'peer s':>8} "
          f"{'peer/fwd':>9} {'speedup':>8}  peer")
    results = {}
    for method in args.methods.split(","):
        description, peer_run = peers[method]
        results[method] = r = {**measure(method, model, images, layer_name, peer_run, forward, args.repeats),
                               "peer": description}
        print(f"{method:<9} {r['maps_per_image']:>4} {r['forward_s']:>7.3f} {r['ours_s']:>8.3f} {r['ours_ratio']:>8.2f}x "
              f"{r['backward_passes']:>6} {r['peer_s']:>8.3f} {r['peer_ratio']:>8.2f}x {r['speedup']:>7.1f}x  {description}")
        save_json({**setup, "methods": results}, args.out)  # after every row: a cut-short run keeps its rows

    cam_ratios = [results[m]["ours_ratio"] for m in ("gradcam", "la") if m in results]
    if cam_ratios:
        verdict = "met" if max(cam_ratios) <= 1.3 else "NOT met"
        print(f"\ngoal: 12 CAM maps in at most 1.3x a forward pass: {verdict} (worst {max(cam_ratios):.2f}x)")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
