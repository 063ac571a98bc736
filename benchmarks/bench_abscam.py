"""Abs-CAM: whynot's batched code vs its physical floor, beside ScoreCAM and Group-CAM.

    python benchmarks/bench_abscam.py                          # synth_vgg
    python benchmarks/bench_abscam.py --models synth_vgg,efficientnet_lite0 --repeats 2

Floors per image, at the chapter's layer (:func:`whynot.experiments.abscam.chapter_layer`):
Abs-CAM_init needs one forward with gradients and the backward pass to the layer; the summed
variant adds one forward of the masked image and one of the clean image (for the scores); the
literal, per-channel reading adds C masked forwards (one per channel) and the clean one, batched at our
chunk size; ScoreCAM needs one forward and C masked ones; Group-CAM the forward-backward and
G + 1 forwards (the masked images and the blurred one). Each
floor is timed right before and right after each run; ratios are medians of per-run ratios.
See benchmarks/README.md. Results go to _build/bench/abscam.json.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import torch

import whynot
from whynot.experiments.abscam import chapter_layer
from whynot.experiments.groupcam import layer_channels
from whynot.utils import save_json
from bench_groupcam import CHUNK, GROUPS, layer_floor, load
from common import add_run_options, batch_sizes, paired_medians, start_run

OUTPUT = Path(__file__).resolve().parents[1] / "_build" / "bench" / "abscam.json"
ABSCAM_GOAL = 1.2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="synth_vgg")
    parser.add_argument("--batch", default="synth_vgg=32,efficientnet_lite0=2")
    add_run_options(parser, OUTPUT)
    args = parser.parse_args()

    batches = batch_sizes(args.batch)
    setup = {**start_run(args), "chunk": CHUNK, "groups": GROUPS, "statistic": "medians over repeats after one warm-up; ratios are "
             "medians of per-run ratios to the floor timed right before and after"}
    print(f"Abs-CAM, ScoreCAM and Group-CAM against their floors, {args.threads} threads, torch "
          f"{torch.__version__}, {setup['cpu']}; ms per image\n")
    print(f"{'model':<19} {'row':<24} {'ms':>9} {'floor ms':>9} {'ratio':>7}")
    results = {}

    for name in args.models.split(","):
        model, images = load(name, batches.get(name, 8))
        layer = chapter_layer(model)
        channels = layer_channels(model, layer)
        batch = len(images)

        def explain(method: str, **kwargs) -> Callable[[], None]:
            return lambda: whynot.explain(model, images, method=method, layer=layer, **kwargs)

        rows = {
            "Abs-CAM_init": (explain("abscam_init"), layer_floor(model, images, 0, layer)),
            "Abs-CAM (summed)": (explain("abscam", reading="summed", contrast="softmax", batch_size=CHUNK),
                                 layer_floor(model, images, 2, layer)),
            "Abs-CAM (literal)": (explain("abscam", reading="literal", contrast="softmax", batch_size=CHUNK),
                                  layer_floor(model, images, channels + 1, layer)),
            "ScoreCAM": (explain("scorecam", contrast="softmax", relu=True, channel_softmax=False,
                                 batch_size=CHUNK), layer_floor(model, images, channels + 1, layer, backward=False)),
            "Group-CAM": (explain("groupcam", groups=GROUPS, contrast="softmax", relu=True, batch_size=CHUNK),
                          layer_floor(model, images, GROUPS + 1, layer)),
        }
        for row, (run, its_floor) in rows.items():
            its_floor(), run()  # warm-up
            timing = paired_medians(run, its_floor, batch, batch, args.repeats)
            results.setdefault(name, {})[row] = {**timing, "channels": channels}
            print(f"{name:<19} {row:<24} {timing['run_ms']:>9.2f} {timing['floor_ms']:>9.2f} "
                  f"{timing['ratio']:>6.2f}x")
            save_json({**setup, "models": results}, args.out)  # after every row

    worst = max(r[row]["ratio"] for r in results.values() for row in r if row.startswith("Abs-CAM"))
    print(f"\ngoal: Abs-CAM at most {ABSCAM_GOAL}x its floor: {'met' if worst <= ABSCAM_GOAL else 'NOT met'} "
          f"(worst {worst:.2f}x)")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
