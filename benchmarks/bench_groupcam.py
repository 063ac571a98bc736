"""Group-CAM and deletion / insertion: whynot's batched code vs its physical floor, beside the
authors' one-image loop, ScoreCAM and torchcam's deletion / insertion.

    python benchmarks/bench_groupcam.py                       # synth_vgg + efficientnet_lite0
    python benchmarks/bench_groupcam.py --repeats 2 --models synth_vgg   # quicker

Group-CAM's floor per image: one forward with gradients, the backward pass to the CAM layer, and
G + 1 forwards (the G masked images and the blurred one) batched at our chunk size. Deletion plus
insertion's floor: the 2 (S + 1) forwards of their curves, batched. Each floor is timed right
before and right after each run; ratios are medians of per-run ratios. See benchmarks/README.md.
Results go to _build/bench/groupcam.json.
"""
from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

import whynot
from whynot.baselines import blur_for
from whynot.explainers.groupcam import BLUR
from whynot.explainers.hooks import capture_layer, model_guard, resolve_layer
from whynot.metrics import deletion, insertion
from whynot.metrics.removal_curves import default_substrate
from whynot.utils import save_json
from common import add_run_options, batch_sizes, paired_medians, start_run

OUTPUT = Path(__file__).resolve().parents[1] / "_build" / "bench" / "groupcam.json"
GROUPCAM_GOAL, CURVES_GOAL = 1.2, 1.1
GROUPS, CHUNK = 32, 64


def load(name: str, batch: int) -> tuple[torch.nn.Module, torch.Tensor]:
    from whynot.models.zoo import load_model

    model = load_model(name)
    if name.startswith("synth_"):
        from whynot.data.synthetic import load_synthbirds

        return model, load_synthbirds("test", n=batch).images
    size = model.whynot_meta["input_size"]
    return model, torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0))


def layer_floor(model, images: torch.Tensor, forwards: int, layer: str | None = None,
                backward: bool = True) -> Callable[[], None]:
    """Forward with gradients and backward to the layer (if ``backward``), then ``forwards``
    no-grad forwards of copies of the batch, ``CHUNK`` images at a time. Group-CAM's floor is
    ``forwards = G + 1``."""
    name, module = resolve_layer(model, layer)
    copies = images.repeat(forwards, 1, 1, 1)

    def run() -> None:
        if backward:
            with model_guard(model), torch.enable_grad(), capture_layer(module, name) as capture:
                logits = model(images)
                torch.autograd.grad(logits[:, 0].sum(), capture.activation)
        with torch.no_grad():
            for chunk in copies.split(CHUNK):
                model(chunk)

    return run


def authors_groupcam(model, images: torch.Tensor, theta: float = 70.0) -> None:
    """The authors' cam/groupcam.py: one image at a time, one group map and forward at a time."""
    name, layer = resolve_layer(model, None)
    for image in images.split(1):
        with model_guard(model), torch.enable_grad(), capture_layer(layer, name) as capture:
            logits = model(image)
            target = int(logits.argmax())
            (gradient,) = torch.autograd.grad(logits[0, target], capture.activation)
        activations = capture.activation.detach() * gradient.mean(dim=(2, 3), keepdim=True)
        blurred = blur_for(image, *BLUR)
        with torch.no_grad():
            baseline = model(blurred).softmax(-1)[0, target]
            saliency = torch.zeros_like(image[:, :1])
            for group in activations.chunk(GROUPS, 1):
                mask = F.relu(group.sum(1, keepdim=True))
                mask = torch.where(mask > torch.quantile(mask, theta / 100), mask, 0.0)
                mask = F.interpolate(mask, size=image.shape[-2:], mode="bilinear", align_corners=False)
                if mask.max() == mask.min():
                    continue
                mask = (mask - mask.min()) / (mask.max() - mask.min())
                score = model(image * mask + blurred * (1 - mask)).softmax(-1)[0, target] - baseline
                saliency += score * mask


class FixedMaps:
    """torchcam's CAM-extractor protocol around precomputed maps."""

    def __init__(self, model, maps):
        self.model, self.maps = model, maps

    def __call__(self, class_idx=None, scores=None, normalized=True, **kwargs):
        return [self.maps]

    def fuse_cams(self, cams):
        return cams[0]

    def _hooks_off(self):
        return contextlib.nullcontext()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="synth_vgg,efficientnet_lite0")
    parser.add_argument("--batch", default="synth_vgg=32,efficientnet_lite0=2")
    parser.add_argument("--curves-models", default="synth_vgg",
                        help="models for the deletion / insertion rows (224-pixel curves take minutes on a CPU)")
    add_run_options(parser, OUTPUT)
    args = parser.parse_args()

    batches = batch_sizes(args.batch)
    setup = {**start_run(args), "groups": GROUPS, "chunk": CHUNK, "statistic": "medians over repeats after one warm-up; "
             "ratios are medians of per-run ratios to the floor timed right before and after"}
    print(f"Group-CAM (G = {GROUPS}, theta = 70) and deletion + insertion (1 % steps), {args.threads} "
          f"threads, torch {torch.__version__}, {setup['cpu']}; ms per image\n")
    print(f"{'model':<19} {'row':<22} {'ms':>9} {'floor ms':>9} {'ratio':>7}")
    results = {}

    def report(model_name: str, row: str, timing: dict) -> None:
        results.setdefault(model_name, {})[row] = timing
        print(f"{model_name:<19} {row:<22} {timing['run_ms']:>9.2f} {timing['floor_ms']:>9.2f} "
              f"{timing['ratio']:>6.2f}x")
        save_json({**setup, "models": results}, args.out)  # after every row

    for name in args.models.split(","):
        model, images = load(name, batches.get(name, 8))
        batch = len(images)
        floor = layer_floor(model, images, GROUPS + 1)

        def ours() -> None:
            whynot.explain(model, images, method="groupcam", groups=GROUPS, contrast="softmax", relu=True,
                           batch_size=CHUNK)

        def scorecam() -> None:
            whynot.explain(model, images, method="scorecam", contrast="softmax", relu=True,
                           channel_softmax=False, batch_size=CHUNK)

        floor(), ours()  # warm-up
        report(name, "Group-CAM (ours)", paired_medians(ours, floor, batch, batch, args.repeats))
        report(name, "Group-CAM (authors')",
               paired_medians(lambda: authors_groupcam(model, images[:1]), floor, batch, 1, args.repeats))
        if name in args.curves_models.split(","):
            report(name, "ScoreCAM (ours)", paired_medians(scorecam, floor, batch, batch, args.repeats))
            maps = torch.rand(images.shape[0], *images.shape[-2:], generator=torch.Generator().manual_seed(1))
            classes = model(images).argmax(dim=1)
            pixels = images.shape[-2] * images.shape[-1]
            points = -(-pixels // -(-pixels // 100)) + 1  # 1 % steps: ceil(pixels / ceil(pixels / 100)) + 1
            copies = images.repeat(2 * points, 1, 1, 1)

            def curves_floor() -> None:
                with torch.no_grad():
                    for chunk in copies.split(CHUNK):
                        model(chunk)

            def curves() -> None:
                deletion(model, images, maps, classes, batch_size=CHUNK)
                insertion(model, images, maps, classes, batch_size=CHUNK)

            def torchcam_curves() -> None:
                from torchcam.metrics import DeletionInsertionMetric

                metric = DeletionInsertionMetric(FixedMaps(model, maps), lambda y: y.softmax(-1), steps=100,
                                                 baseline=default_substrate, batch_size=CHUNK)
                metric.update(images, class_idx=classes.tolist())

            curves()
            report(name, "deletion+insertion", paired_medians(curves, curves_floor, batch, batch, args.repeats))
            report(name, "  torchcam", paired_medians(torchcam_curves, curves_floor, batch, batch, args.repeats))

    worst_groupcam = max(r["Group-CAM (ours)"]["ratio"] for r in results.values())
    curve_rows = [r["deletion+insertion"]["ratio"] for r in results.values() if "deletion+insertion" in r]
    print(f"\ngoal: Group-CAM at most {GROUPCAM_GOAL}x its floor: "
          f"{'met' if worst_groupcam <= GROUPCAM_GOAL else 'NOT met'} (worst {worst_groupcam:.2f}x)")
    if curve_rows:
        print(f"goal: deletion + insertion at most {CURVES_GOAL}x their forwards: "
              f"{'met' if max(curve_rows) <= CURVES_GOAL else 'NOT met'} (worst {max(curve_rows):.2f}x)")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
