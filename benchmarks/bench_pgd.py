"""Gradient-sign perturbation (paper Fig. 3): whynot's batched ``perturb`` vs a physical floor and a
naive loop, per (image, iteration, contrast), for the paper's 4 contrasts.

    python benchmarks/bench_pgd.py                         # synth_vgg + efficientnet_lite0 (< 1 min idle)
    python benchmarks/bench_pgd.py --repeats 2 --models synth_vgg   # quicker

The floor is one forward plus one backward pass to the input of the same model, on the same batch
that one of our iterations processes (the 4 contrasts' copies of the images), timed right before
and right after each run; the ratio is the median of the per-run ratios. See benchmarks/README.md.
Results go to _build/bench/pgd.json.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import torch

from whynot.experiments.pgd import perturb
from whynot.explainers.hooks import model_guard
from whynot.utils import save_json
from common import add_run_options, batch_sizes, ours_vs_naive, paired_medians, start_run

CONTRASTS = ("logit", "mean", "max", "weighted")  # the paper's original, mean, max, weighted
OUTPUT = Path(__file__).resolve().parents[1] / "_build" / "bench" / "pgd.json"
GOAL = 1.1  # ours per (image, iteration, contrast) at most 1.1x one forward + backward per image


def load(name: str, batch: int) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, str]:
    """The model, ``batch`` images at its input size and their targets (labels, else predictions)."""
    from whynot.models.zoo import load_model

    model = load_model(name)
    if name.startswith("synth_"):
        from whynot.data.synthetic import load_synthbirds

        birds = load_synthbirds("test", n=batch)
        return model, birds.images, birds.labels.long(), "SynthBirds test"
    size = model.whynot_meta["input_size"]
    images = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        targets = model(images).argmax(dim=1)
    return model, images, targets, "random images"


def naive(model, images: torch.Tensor, targets: torch.Tensor, eps: float, steps: int) -> dict[str, torch.Tensor]:
    """The loop as the paper's code does it conceptually: one image, one contrast, one step at a
    time, each contrast written as a scalar score and differentiated with autograd."""
    results = {}
    for contrast in CONTRASTS:
        perturbed = []
        for image, target in zip(images, targets.tolist()):
            x0 = image[None]
            lower, upper = (x0 - eps).clamp(min=0), (x0 + eps).clamp(max=1)
            x = x0.clone()
            for _ in range(steps):
                x.requires_grad_(True)
                y = model(x)[0]
                others = torch.cat([y[:target], y[target + 1 :]])
                if contrast == "logit":
                    score = y[target]
                elif contrast == "mean":
                    score = y[target] - others.mean()
                elif contrast == "max":
                    score = y[target] - others.max()
                else:  # weighted (Eq. 1): alpha = softmax of the other logits, held fixed
                    score = y[target] - (others.detach().softmax(dim=0) * others).sum()
                (gradient,) = torch.autograd.grad(score, x)
                x = torch.minimum(torch.maximum(x.detach() + eps / steps * gradient.sign(), lower), upper)
            perturbed.append(x)
        results[contrast] = torch.cat(perturbed)
    return results


def floor_pass(model, images: torch.Tensor) -> Callable[[], None]:
    """One forward and one backward pass to the input on the batch of one of our iterations
    (parameters frozen, as in ``perturb``)."""
    copies = images.repeat(len(CONTRASTS), 1, 1, 1)
    with torch.no_grad():
        cotangent = torch.zeros_like(model(copies[:1])).expand(len(copies), -1).clone()
    cotangent[:, 0] = 1

    def run() -> None:
        x = copies.clone().requires_grad_(True)
        with model_guard(model):
            torch.autograd.grad(model(x), x, grad_outputs=cotangent)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="synth_vgg,efficientnet_lite0", help="comma-separated zoo names")
    parser.add_argument("--batch", default="synth_vgg=32,efficientnet_lite0=2",
                        help="images per model, name=count,... (others: 8)")
    parser.add_argument("--naive-images", type=int, default=1,
                        help="the naive loop runs on the first N images (its time per unit does not depend on N)")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--eps", type=float, default=3e-3)
    add_run_options(parser, OUTPUT, repeats=5)
    args = parser.parse_args()

    batches = batch_sizes(args.batch)
    setup = {**start_run(args), "steps": args.steps,
        "eps": args.eps, "contrasts": list(CONTRASTS),
        "unit": "one (image, iteration, contrast): ms = run seconds / (images * steps * contrasts)",
        "floor": "one forward + backward (input gradient) on the images x 4 contrasts batch, per image, "
                 "timed right before and right after each run",
        "naive": "one image, one contrast, one step at a time (batch 1), autograd of a scalar score, "
                 f"on the first {args.naive_images} images",
        "statistic": "medians over repeats after one warm-up; ratios are medians of per-run ratios",
    }
    print(f"gradient-sign perturbation, {len(CONTRASTS)} contrasts, steps={args.steps}, eps={args.eps:g}, "
          f"{args.threads} threads, torch {torch.__version__}, {setup['cpu']}")
    print(f"ms per (image, iteration, contrast); floor = forward + backward to the input per image at our "
          f"batch (images x {len(CONTRASTS)}); naive: batch 1 on the first {args.naive_images} image(s); "
          f"medians of {args.repeats} after one warm-up\n")
    print(f"{'model':<19} {'size':>4} {'batch':>5} {'ours ms':>8} {'floor ms':>9} {'ours/floor':>10} "
          f"{'naive ms':>9} {'naive/floor':>11} {'speedup':>8} {'agree':>6}")
    results = {}
    for name in args.models.split(","):
        model, images, targets, data = load(name, batches.get(name, 8))
        batch, steps = len(images), args.steps
        units = batch * steps * len(CONTRASTS)
        floor = floor_pass(model, images)

        def ours() -> None:
            perturb(model, images, targets, CONTRASTS, eps=args.eps, steps=steps)

        few = min(args.naive_images, batch)

        def loop() -> None:
            naive(model, images[:few], targets[:few], args.eps, steps)

        floor()  # warm-up, and a check that the naive loop computes what perturb computes
        batched = perturb(model, images, targets, CONTRASTS, eps=args.eps, steps=steps)
        single = naive(model, images[:1], targets[:1], args.eps, steps)
        agree = min(torch.isclose(batched[c][:1], single[c], rtol=0, atol=1e-6).float().mean().item()
                    for c in CONTRASTS)
        mine = paired_medians(ours, floor, batch * len(CONTRASTS), units, args.repeats)
        peer = paired_medians(loop, floor, batch * len(CONTRASTS), few * steps * len(CONTRASTS), args.repeats)
        results[name] = r = {
            "data": data, "size": images.shape[-1], "batch": batch, "naive_images": few,
            **ours_vs_naive(mine, peer), "naive_agrees": agree,
        }
        print(f"{name:<19} {r['size']:>4} {batch:>5} {r['ours_ms']:>8.3f} {r['floor_ms']:>9.3f} "
              f"{r['ours_ratio']:>9.2f}x {r['naive_ms']:>9.3f} {r['naive_ratio']:>10.2f}x {r['speedup']:>7.1f}x {agree:>6.1%}")
        save_json({**setup, "models": results}, args.out)  # after every row: a cut-short run keeps its rows

    worst = max(r["ours_ratio"] for r in results.values())
    verdict = "met" if worst <= GOAL else "NOT met"
    print("agree: pixels of the first image where the naive loop lands where perturb does (the worst "
          "contrast; float32 round-off may flip the sign of a near-zero gradient)")
    print(f"\ngoal: ours at most {GOAL}x the floor per (image, iteration, contrast): {verdict} (worst {worst:.2f}x)")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
