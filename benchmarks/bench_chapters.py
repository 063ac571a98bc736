"""The slow chapters' experiments against their floor (whynot.experiments.cost), side by side.

    python benchmarks/bench_chapters.py --chapters 02,06,07 --models synth_vgg --n-images 9
    python benchmarks/bench_chapters.py ... --before /tmp/old/lib   # another checkout's lib/ too

For each chapter: its floor (the passes its plan needs, each at the speed of one batched pass,
timed here), the experiment run cold into a fresh store (``runner.run``, in a fresh process,
model loading excluded), with ``--before`` the same experiment from another checkout's ``lib/``,
then the floor again. Ratios divide by the mean of the two floors, which cancels most of a
shared machine's drift. Results go to ``_build/bench/chapters.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from whynot.experiments import cost
from whynot.utils import save_json

ROOT = Path(__file__).resolve().parents[1]
# Runs one experiment in a fresh process and prints the seconds runner.run takes.
RUN = """
import sys, time, torch
from whynot.experiments import runner
from whynot.experiments.plans import model_on
name, profile, models, n, out = sys.argv[1:6]
module = __import__(f"whynot.experiments.{name}", fromlist=["experiment"])
experiment = module.experiment(profile, models=models.split(","), n_images=int(n))
for model in dict.fromkeys(b["model"] for b in experiment.batches):
    model_on(model, "cpu")
start = time.perf_counter()
runner.run(experiment, out=out, device="cpu", progress=False)
print(time.perf_counter() - start)
"""


def run_experiment(name: str, profile: str, models: str, n_images: int, lib: Path | None) -> float:
    env = dict(os.environ)
    if lib is not None:
        env["PYTHONPATH"] = f"{lib}{os.pathsep}{env.get('PYTHONPATH', '')}"
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-c", RUN, name, profile, models, str(n_images), out]
        result = subprocess.run(command, env=env, capture_output=True, text=True,
                                cwd=tempfile.gettempdir())
    if result.returncode:
        raise RuntimeError(f"{name} failed:\n{result.stderr[-3000:]}")
    return float(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chapters", default="02,06,07")
    parser.add_argument("--models", default="synth_vgg")
    parser.add_argument("--n-images", type=int, default=9)
    parser.add_argument("--profile", default="default")
    parser.add_argument("--before", type=Path, help="another checkout's lib/ to time as well")
    parser.add_argument("--out", type=Path, default=ROOT / "_build/bench/chapters.json")
    args = parser.parse_args(argv)
    rows = []
    for chapter in args.chapters.split(","):
        name = cost.CHAPTERS.get(chapter)
        if not isinstance(name, str):  # 03, 05: their floors count figures no experiment runs
            single = [c for c, n in cost.CHAPTERS.items() if isinstance(n, str)]
            parser.error(f"--chapters {chapter}: this benchmark times a chapter's one runner "
                         f"experiment against its floor; choose from {', '.join(single)}")
        subset = dict(models=args.models.split(","), n_images=args.n_images)
        first, table = cost.measure_floor(chapter, args.profile, **subset)
        times = {"after": run_experiment(name, args.profile, args.models, args.n_images, None)}
        if args.before:
            times["before"] = run_experiment(name, args.profile, args.models, args.n_images,
                                             args.before)
        second, _ = cost.measure_floor(chapter, args.profile, **subset)
        floor = (first + second) / 2
        row = {"chapter": chapter, "experiment": name, **subset, "floor s": floor,
               **{f"{k} s": v for k, v in times.items()},
               **{f"{k}/floor": v / floor for k, v in times.items()},
               "passes": table.drop(columns=["floor s"]).to_dict("records"),
               "load average": os.getloadavg()}
        print(json.dumps({k: v for k, v in row.items() if k != "passes"}), flush=True)
        rows.append(row)
    save_json(rows, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
