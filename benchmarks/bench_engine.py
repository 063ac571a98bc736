"""Our engine vs the peers' usual way, for the paper's 4 contrasts x top-3 classes = 12 maps.

    python benchmarks/bench_engine.py                      # vgg16_bn, batch 16, 224x224 (minutes)
    python benchmarks/bench_engine.py --batch 4 --repeats 2   # quicker
    python benchmarks/bench_engine.py --device cuda            # on a GPU (the default where one is)

Every time is a median over ``--repeats`` runs after one warm-up call, and is reported as a ratio
to one plain forward pass of the same batch under ``torch.no_grad()`` (what a user would run).
Beside each time, the peak memory one call adds (``common.peak_memory_mib``): on a GPU
``torch.cuda.max_memory_allocated``; on a CPU the peak resident set size, each row measured in
a fresh process so that memory freed by an earlier row does not hide its growth.
See benchmarks/README.md for what each column means. Results go to _build/bench/engine.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
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
from common import default_device, device_name, peak_memory_mib, seconds, synced

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
        mean_head = torch.eye(count, device=logits.device) * count / (count - 1) - 1 / (count - 1)
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


def our_run(method: str, model, images, layer_name: str, passes: dict) -> Callable[[], None]:
    """Our one call for all 12 maps; it records the engine's backward passes in ``passes``."""

    def ours() -> None:
        explanation = whynot.explain(
            model, images, method=method, layer=layer_name if method != "gradient" else None,
            topk=TOPK, contrast=CONTRASTS, return_explanation=True,
        )
        passes["count"] = explanation.backward_passes

    return ours


def measure(method: str, model, images, layer_name: str, peer_run, forward, repeats: int,
            device: torch.device) -> dict:
    """Our one call and the peer's 12 calls for ``method``, each paired with forward passes."""
    passes = {}
    ours = synced(our_run(method, model, images, layer_name, passes), device)
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


def memory_in_fresh_process(method: str, side: str, args) -> float | None:
    """Peak MiB of one CPU call (``side``: ours or peer) in a fresh process (see
    ``common.peak_memory_mib``: freed memory kept for reuse would hide a later call's growth)."""
    command = [sys.executable, __file__, "--memory-of", f"{method},{side}", "--model", args.model,
               "--batch", str(args.batch), "--size", str(args.size), "--threads", str(args.threads),
               "--device", args.device]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def peak_memories(method: str, model, images, layer_name: str, peer_run, args) -> dict:
    """``{"ours_peak_mib", "peer_peak_mib"}``: on a GPU measured here (the peak statistics reset
    per call), on a CPU each in a fresh process."""
    if torch.device(args.device).type != "cuda":
        return {f"{side}_peak_mib": memory_in_fresh_process(method, side, args) for side in ("ours", "peer")}
    ours = synced(our_run(method, model, images, layer_name, {}), args.device)
    return {"ours_peak_mib": peak_memory_mib(ours, args.device),
            "peer_peak_mib": peak_memory_mib(peer_run, args.device)}


def setup_runs(args):
    """``(model, images, layer name, forward, {method: (peer description, peer run)})`` on
    ``args.device``."""
    device = torch.device(args.device)
    model = build_model(args.model).to(device)
    images = torch.rand(args.batch, 3, args.size, args.size, generator=torch.Generator().manual_seed(0)).to(device)
    layer_name = model.whynot_meta["default_layer"] or whynot.explainers.GradCAM(model).layer_name
    layer = model.get_submodule(layer_name)
    peers = {
        "gradcam": ("pytorch-grad-cam GradCAM, one call per map",
                    synced(peer_cam(GradCAM, model, layer, images), device)),
        "la": ("pytorch-grad-cam BaseCAM subclass for LA, one call per map",
               synced(peer_cam(LinearApproximationCAM, model, layer, images), device)),
        "gradient": ("captum Saliency(abs=False), one call per map",
                     synced(peer_gradient(model, images), device)),
    }

    def forward() -> None:
        with torch.no_grad():
            model(images)

    return model, images, layer_name, synced(forward, device), peers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="vgg16_bn", help="a torchvision classifier (random weights)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--methods", default="gradcam,la,gradient", help="comma-separated subset")
    parser.add_argument("--out", type=Path, default=OUTPUT)
    parser.add_argument("--device", default=default_device(), help="cpu or cuda (default: cuda where present)")
    parser.add_argument("--memory-of", metavar="METHOD,SIDE", help=argparse.SUPPRESS)  # one memory row
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    if args.memory_of:  # a fresh process measuring one row's peak resident memory (CPU)
        method, side = args.memory_of.split(",")
        model, images, layer_name, forward, peers = setup_runs(args)
        forward()  # one-time allocations (thread pools, kernel caches) are not the row's
        run = our_run(method, model, images, layer_name, {}) if side == "ours" else peers[method][1]
        print(json.dumps(peak_memory_mib(run, args.device)))
        return
    device = torch.device(args.device)
    model, images, layer_name, forward, peers = setup_runs(args)
    setup = {
        "torch": torch.__version__, "threads": args.threads, "device": args.device,
        "device_name": device_name(device), "model": args.model,
        "layer": layer_name, "batch": args.batch, "size": args.size, "repeats": args.repeats,
        "contrasts": list(CONTRASTS), "topk": TOPK,
        "forward": "model(images) under torch.no_grad(), timed right before each run",
        "statistic": "medians over repeats after one warm-up; ratios are medians of per-repeat ratios",
        "memory": ("peak MiB one call adds: torch.cuda.max_memory_allocated on a GPU; on a CPU peak "
                   "resident set size (VmHWM) minus the size before it, one fresh process per row"),
    }

    forward()
    print(f"{args.model}, batch {args.batch}, {args.size}x{args.size}, layer {layer_name}, {args.threads} threads, "
          f"torch {torch.__version__}, {args.device}: {setup['device_name']}")
    print(f"ratios to a plain forward pass (torch.no_grad) timed before each run; medians of {args.repeats} "
          "after one warm-up\n")
    print(f"{'method':<9} {'maps':>4} {'fwd s':>7} {'ours s':>8} {'ours/fwd':>9} {'passes':>6} {'peer s':>8} "
          f"{'peer/fwd':>9} {'speedup':>8} {'ours MiB':>9} {'peer MiB':>9}  peer")
    results = {}
    for method in args.methods.split(","):
        description, peer_run = peers[method]
        results[method] = r = {**measure(method, model, images, layer_name, peer_run, forward, args.repeats,
                                         device),
                               **peak_memories(method, model, images, layer_name, peer_run, args),
                               "peer": description}
        print(f"{method:<9} {r['maps_per_image']:>4} {r['forward_s']:>7.3f} {r['ours_s']:>8.3f} {r['ours_ratio']:>8.2f}x "
              f"{r['backward_passes']:>6} {r['peer_s']:>8.3f} {r['peer_ratio']:>8.2f}x {r['speedup']:>7.1f}x "
              f"{_mib(r['ours_peak_mib']):>9} {_mib(r['peer_peak_mib']):>9}  {description}")
        save_json({**setup, "methods": results}, args.out)  # after every row: a cut-short run keeps its rows

    cam_ratios = [results[m]["ours_ratio"] for m in ("gradcam", "la") if m in results]
    if cam_ratios:
        verdict = "met" if max(cam_ratios) <= 1.3 else "NOT met"
        print(f"\ngoal: 12 CAM maps in at most 1.3x a forward pass: {verdict} (worst {max(cam_ratios):.2f}x)")
    print(f"wrote {args.out}")


def _mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


if __name__ == "__main__":
    main()
