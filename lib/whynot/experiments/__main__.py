"""Run, inspect and export resumable experiments (see ``whynot.experiments.runner``).

    python -m whynot.experiments run pgd --profile full --out /content/drive/MyDrive/whynot
    torchrun --nproc_per_node 2 -m whynot.experiments run pgd --profile full --out DIR  # a shard per GPU
    python -m whynot.experiments status pgd --out /content/drive/MyDrive/whynot
    python -m whynot.experiments table pgd --out /content/drive/MyDrive/whynot --csv pgd.csv

NAME is a registered experiment or a factory path ``module:attr``. With ``--out DIR`` the store is
``DIR/NAME``; without it, a cache folder keyed by the configuration, which ``--profile`` rebuilds.
Rerunning ``run`` after a crash computes only the missing batches.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from whynot.experiments import runner
from whynot.profiles import PROFILES
from whynot.utils import atomic_path

SHARD_HELP = "--shard must look like i/n with 0 <= i < n, e.g. 0/2"


def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(SHARD_HELP) from None
    if not 0 <= i < n:
        raise argparse.ArgumentTypeError(SHARD_HELP)
    return i, n


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m whynot.experiments", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    names = f"registered ({', '.join(sorted(runner.EXPERIMENTS))}) or a factory as module:attr"
    for command, about in [("run", "compute the missing batches (of this shard), then summarise"),
                          ("status", "print finished/total batches and the store path"),
                          ("table", "print the merged results as CSV")]:
        sub = commands.add_parser(command, help=about, description=about)
        sub.add_argument("name", metavar="NAME", help=f"experiment: {names}")
        sub.add_argument("--profile", choices=sorted(PROFILES), required=command == "run",
                         help="run profile; without --out it also locates the cache store")
        sub.add_argument("--out", metavar="DIR", help="store the results in DIR/NAME")
    run, table = commands.choices["run"], commands.choices["table"]
    run.add_argument("--shard", type=_shard, metavar="i/n",
                     help="run the batches with index %% n == i (default: torchrun's RANK/WORLD_SIZE)")
    run.add_argument("--device", help="torch device (default: cuda:$LOCAL_RANK if available, else cpu)")
    table.add_argument("--csv", metavar="PATH", help="write the CSV to PATH instead of stdout")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    experiment = None
    if args.command == "run" or args.out is None or ":" in args.name:
        if args.profile is None:
            parser.error("give --out DIR (the store is DIR/NAME) or --profile P (to rebuild the "
                         "configuration and find its store); a module:attr NAME needs --profile")
        try:
            experiment = runner.load_experiment(args.name, args.profile)
        except runner.UnknownExperimentError as err:
            parser.error(str(err))
    path = runner.store_path(experiment, args.out) if experiment else Path(args.out) / args.name

    # status and table run no experiment code, so a missing file there can only be the store
    errors = (runner.StoreMismatchError,) + ((FileNotFoundError,) if args.command != "run" else ())
    try:
        if args.command == "run":
            df = runner.run(experiment, args.out, args.shard, args.device)
            state = runner.status(path)
            print(f"{state.name}: {len(state.done)}/{state.total} batches done, {len(df)} rows, "
                  f"store {path}")
        elif args.command == "status":
            print(runner.status(path))
        else:
            df, state = runner.table(path), runner.status(path)
            if state.missing:
                print(f"warning: {len(state.missing)} of {state.total} batches of {state.name} are "
                      f"missing, the table is partial; rerun `run` to finish them", file=sys.stderr)
            if args.csv:
                with atomic_path(args.csv) as tmp:
                    df.to_csv(tmp, index=False)
            else:
                df.to_csv(sys.stdout, index=False)
    except errors as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
