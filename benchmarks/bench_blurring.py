"""Blurring and masking (paper Table 1): whynot's batched grid vs a physical floor and a naive
loop, per Table-1 cell and image (3 baselines x 3 methods x 2 contrasts x 2 classes x 2 signs x
2 variants = 144 cells).

    python benchmarks/bench_blurring.py                       # synth_vgg + efficientnet_lite0
    python benchmarks/bench_blurring.py --repeats 2 --models synth_vgg   # quicker

The floor is plain batched forward passes (``torch.no_grad``) of as many masked images as the
grid needs (108 per image: 36 masks x 3 baselines), built beforehand, at the grid's chunk size,
timed right before and right after each run; the ratio is the median of the per-run ratios. See
benchmarks/README.md. Results go to _build/bench/blurring.json.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from whynot.baselines import BASELINES
from whynot.experiments.blurring import CONTRASTS, METHODS, default_chunk_size, masking_table
from whynot.utils import save_json
from common import add_run_options, batch_sizes, ours_vs_naive, paired_medians, start_run

OUTPUT = Path(__file__).resolve().parents[1] / "_build" / "bench" / "blurring.json"
GOAL = 1.1  # ours per cell at most 1.1x the forward passes the cells need
CELLS = 3 * 3 * 2 * 2 * 2 * 2  # baselines x methods x contrasts x classes x signs x variants
MASKED = 36 * 3  # distinct masked images per image: 24 plain + 12 equal-blurring masks, x 3


def load(name: str, batch: int) -> tuple[torch.nn.Module, torch.Tensor, str]:
    """The model and ``batch`` images at its input size."""
    from whynot.models.zoo import load_model

    model = load_model(name)
    if name.startswith("synth_"):
        from whynot.data.synthetic import load_synthbirds

        return model, load_synthbirds("test", n=batch).images, "SynthBirds test"
    size = model.whynot_meta["input_size"]
    return model, torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0)), \
        "random images"


def naive_map(model, image: torch.Tensor, method: str, target: int, contrast: str) -> torch.Tensor:
    """One CAM map the way the authors' code computes it: a forward hook on the layer, autograd
    of the logit (original) or of the softmax probability (weighted), bilinear upsampling."""
    layer = model.get_submodule(model.whynot_meta["default_layer"])
    store = {}
    handle = layer.register_forward_hook(lambda module, inputs, output: store.update(a=output))
    try:
        logits = model(image[None].clone().requires_grad_(True))
    finally:
        handle.remove()
    score = logits[0, target] if contrast == "logit" else logits.softmax(dim=1)[0, target]
    (gradient,) = torch.autograd.grad(score, store["a"])
    a, g = store["a"][0].detach(), gradient[0]
    if method == "gradcam":
        cam = (g.mean(dim=(1, 2), keepdim=True) * a).sum(0)
    elif method == "la":
        cam = (g * a).sum(0)
    else:  # xgradcam, signed, with the reproductions' |A| normaliser
        weights = (g * a).sum(dim=(1, 2), keepdim=True) / (a.abs().sum(dim=(1, 2), keepdim=True) + 1e-7)
        cam = (weights * a).sum(0)
    return F.interpolate(cam[None, None], size=image.shape[-2:], mode="bilinear", align_corners=True)[0, 0]


def naive(model, images: torch.Tensor) -> dict[tuple, float]:
    """One image, one mask at a time: every map recomputed per method, class and contrast, every
    baseline recomputed per masked image, one forward pass (batch 1) per cell."""
    results = {}
    for b, image in enumerate(images):
        with torch.no_grad():
            pair = model(image[None])[0].topk(2).indices.tolist()
        for method in METHODS:
            for k, target in enumerate(pair):
                maps = {c: naive_map(model, image, method, target, c) for c in CONTRASTS}
                for kept, s in (("positive", 1), ("negative", -1)):
                    n = min(int((s * m < 0).sum()) for m in maps.values())
                    for contrast, heat in maps.items():
                        score = (s * heat).flatten()
                        ranked = torch.sort(score, stable=True).indices
                        equal = torch.ones_like(score, dtype=torch.bool)
                        equal[ranked[:n]] = False
                        for variant, keep in (("plain", s * heat >= 0), ("equal", equal.view_as(heat))):
                            for name, baseline in BASELINES.items():
                                masked = torch.where(keep, image, baseline(image[None], model)[0])
                                with torch.no_grad():
                                    y = model(masked[None])[0]
                                r = torch.softmax(y[pair], dim=0)[k].item()
                                results[(b, variant, name, method, contrast, f"t{k + 1}", kept)] = r
    return results


def floor_pass(model, images: torch.Tensor) -> Callable[[], None]:
    """Plain forward passes over ``MASKED`` masked copies per image, at the grid's chunk size
    and memory format (channels-last)."""
    copies = (images.repeat_interleave(MASKED, dim=0) * 0.5).contiguous(memory_format=torch.channels_last)
    chunk = default_chunk_size(images)

    def run() -> None:
        with torch.no_grad():
            for part in copies.split(chunk):
                model(part)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="synth_vgg,efficientnet_lite0", help="comma-separated zoo names")
    parser.add_argument("--batch", default="synth_vgg=32,efficientnet_lite0=2",
                        help="images per model, name=count,... (others: 8)")
    parser.add_argument("--naive-images", type=int, default=1,
                        help="the naive loop runs on the first N images (its time per cell does not depend on N)")
    add_run_options(parser, OUTPUT, repeats=5)
    args = parser.parse_args()

    batches = batch_sizes(args.batch)
    setup = {**start_run(args),
        "cells_per_image": CELLS, "masked_images_per_image": MASKED,
        "chunk": "whynot.experiments.blurring.default_chunk_size: 2^20 pixels of images per forward on a CPU",
        "unit": f"one Table-1 cell of one image: ms = run seconds / (images * {CELLS})",
        "floor": f"plain no_grad forward passes of {MASKED} masked images per image (the distinct "
                 f"masked images the {CELLS} cells need), prebuilt, channels-last, at the grid's chunk "
                 "size, per cell; timed right before and right after each run",
        "naive": "one image, one mask at a time: maps recomputed per method, class and contrast "
                 f"(hook + autograd), baselines per masked image, batch-1 forward per cell, on the "
                 f"first {args.naive_images} images",
        "statistic": "medians over repeats after one warm-up; ratios are medians of per-run ratios",
    }
    print(f"blurring / masking (Table 1), {CELLS} cells per image ({MASKED} distinct masked images), "
          f"{args.threads} threads, torch {torch.__version__}, {setup['cpu']}")
    print(f"ms per (image, cell); floor = plain batched forwards of the {MASKED} masked images per image, "
          f"spread over its {CELLS} cells; naive: batch 1 on the first {args.naive_images} image(s); "
          f"medians of {args.repeats} after one warm-up\n")
    print(f"{'model':<19} {'size':>4} {'batch':>5} {'ours ms':>8} {'floor ms':>9} {'ours/floor':>10} "
          f"{'naive ms':>9} {'naive/floor':>11} {'speedup':>8} {'max |dr|':>9}")
    results = {}
    for name in args.models.split(","):
        model, images, data = load(name, batches.get(name, 8))
        batch = len(images)
        floor = floor_pass(model, images)
        few = min(args.naive_images, batch)

        def ours() -> None:
            masking_table(model, images)

        def loop() -> None:
            naive(model, images[:few])

        floor()  # warm-up, and a check that the naive loop computes what the grid computes
        table = masking_table(model, images[:1]).set_index(
            ["image", "variant", "baseline", "method", "contrast", "target", "kept"]).r
        single = naive(model, images[:1])
        gap = max(abs(table[key] - value) for key, value in single.items())
        # the floor covers MASKED images per image; express both per cell (CELLS per image)
        mine = paired_medians(ours, floor, batch * CELLS, batch * CELLS, args.repeats)
        peer = paired_medians(loop, floor, batch * CELLS, few * CELLS, args.repeats)
        results[name] = r = {
            "data": data, "size": images.shape[-1], "batch": batch, "naive_images": few,
            **ours_vs_naive(mine, peer), "max_abs_difference": gap,
        }
        print(f"{name:<19} {r['size']:>4} {batch:>5} {r['ours_ms']:>8.3f} {r['floor_ms']:>9.3f} "
              f"{r['ours_ratio']:>9.2f}x {r['naive_ms']:>9.3f} {r['naive_ratio']:>10.2f}x "
              f"{r['speedup']:>7.1f}x {gap:>9.1e}")
        save_json({**setup, "models": results}, args.out)  # after every row: a cut-short run keeps its rows

    worst = max(r["ours_ratio"] for r in results.values())
    verdict = "met" if worst <= GOAL else "NOT met"
    print("max |dr|: largest difference in relative probability between the naive loop and the grid "
          "over the first image's 144 cells (float32 round-off; a near-zero map value may change sign)")
    print(f"\ngoal: ours at most {GOAL}x the floor per cell: {verdict} (worst {worst:.2f}x)")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
