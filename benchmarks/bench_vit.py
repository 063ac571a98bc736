"""Token GradCAM on Vision Transformers: the paper's 4 contrasts x top-3 classes = 12 maps, our
one call against pytorch-grad-cam's 12 calls (with a reshape_transform), as ratios to one
forward pass; and gradient-weighted rollout, for the same 12 maps.

    python benchmarks/bench_vit.py                              # synth_vit + vit_b_16 (random weights)
    python benchmarks/bench_vit.py --models synth_vit --repeats 2   # quicker

Every time is the median over ``--repeats`` runs after one warm-up; ratios are medians of per-run
ratios to a plain ``torch.no_grad()`` forward pass of the same batch timed right before and right
after each run (benchmarks/common.py). Results go to _build/bench/vit.json.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torchvision
from pytorch_grad_cam import GradCAM

import whynot
from whynot.explainers import token_grid, vit_layout
from whynot.models.common import IMAGENET_MEAN, IMAGENET_STD, NormalizedModel
from whynot.utils import save_json
from bench_engine import CONTRASTS, TOPK, peer_cam_targets
from common import add_run_options, batch_sizes, paired_medians, start_run

OUTPUT = Path(__file__).resolve().parents[1] / "_build" / "bench" / "vit.json"


def load(name: str, batch: int) -> tuple[torch.nn.Module, torch.Tensor]:
    """Our synth_vit on SynthBirds test images, or a torchvision ViT with seeded random weights."""
    if name == "synth_vit":
        from whynot.data.synthetic import load_synthbirds
        from whynot.models.zoo import load_model

        return load_model(name), load_synthbirds("test", n=batch).images
    torch.manual_seed(0)
    net = getattr(torchvision.models, name)(weights=None)
    model = NormalizedModel(net, IMAGENET_MEAN, IMAGENET_STD, {"name": name, "default_layer": None}).eval()
    return model, torch.rand(batch, 3, 224, 224, generator=torch.Generator().manual_seed(0))


def peer_token_gradcam(model, images):
    """pytorch-grad-cam's GradCAM at our default layer with a reshape_transform: one call per map."""
    layout = vit_layout(model)
    layer = model.get_submodule(layout.default_layer)

    def run(maps: int = len(CONTRASTS) * TOPK) -> None:
        with torch.no_grad():
            logits = model(images)
        top = logits.topk(TOPK).indices
        calls = [(contrast, k) for contrast in CONTRASTS for k in range(TOPK)][:maps]
        with GradCAM(model, target_layers=[layer], reshape_transform=token_grid(layout.prefix_tokens)) as cam:
            for contrast, k in calls:
                cam(input_tensor=images, targets=peer_cam_targets(logits, top[:, k], contrast))
        model.zero_grad(set_to_none=True)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="synth_vit,vit_b_16")
    parser.add_argument("--batch", default="synth_vit=32,vit_b_16=2")
    add_run_options(parser, OUTPUT)
    args = parser.parse_args()

    batches = batch_sizes(args.batch)
    setup = {**start_run(args),
             "contrasts": list(CONTRASTS), "topk": TOPK,
             "statistic": "medians over repeats after one warm-up; ratios to a no-grad forward pass timed "
                          "right before and after each run"}
    print(f"12 maps per image (4 contrasts x top-3), {args.threads} threads, torch {torch.__version__}, "
          f"{setup['cpu']}\n")
    print(f"{'model':<10} {'batch':>5} {'row':<34} {'ms/img':>9} {'fwd ms':>8} {'x fwd':>7}")
    results = {}
    for name in args.models.split(","):
        model, images = load(name, batches.get(name, 2))
        batch = len(images)

        def forward() -> None:
            with torch.no_grad():
                model(images)

        def ours(method: str):
            return lambda: whynot.explain(model, images, method=method, topk=TOPK, contrast=CONTRASTS)

        peer = peer_token_gradcam(model, images)
        rows = {"token GradCAM (ours, 1 call)": ours("gradcam"),
                "token GradCAM (pytorch-grad-cam, 12)": peer,
                "gradient rollout (ours, 1 call)": ours("rollout")}
        forward(), rows["token GradCAM (ours, 1 call)"](), peer(1), rows["gradient rollout (ours, 1 call)"]()
        for row, run in rows.items():
            timing = paired_medians(run, forward, batch, batch, args.repeats)
            results.setdefault(name, {"batch": batch})[row] = timing
            print(f"{name:<10} {batch:>5} {row:<34} {timing['run_ms']:>9.1f} {timing['floor_ms']:>8.1f} "
                  f"{timing['ratio']:>6.1f}x")
            save_json({**setup, "models": results}, args.out)
        ours_row, peer_row = results[name]["token GradCAM (ours, 1 call)"], results[name]["token GradCAM (pytorch-grad-cam, 12)"]
        print(f"{name:<10} speed-up over pytorch-grad-cam: {peer_row['run_ms'] / ours_row['run_ms']:.1f}x\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
