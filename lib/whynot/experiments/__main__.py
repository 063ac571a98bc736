"""Run, inspect and export resumable experiments (see ``whynot.experiments.runner``).

    python -m whynot.experiments run pgd --profile full --out /content/drive/MyDrive/whynot
    torchrun --nproc_per_node 2 -m whynot.experiments run pgd --profile full --out DIR  # a shard per GPU
    python -m whynot.experiments status pgd --out /content/drive/MyDrive/whynot
    python -m whynot.experiments table pgd --out /content/drive/MyDrive/whynot --csv pgd.csv
    python -m whynot.experiments table pgd --out /content/drive/MyDrive/whynot --summary

NAME is a registered experiment or a factory path ``module:attr``. With ``--out DIR`` the store is
``DIR/NAME``; without it, a cache folder keyed by the configuration, which ``--profile`` rebuilds.
Rerunning ``run`` after a crash computes only the missing batches. Missing data, weights or
a download that fails end ``run`` with a one-line error that says where to put the files.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from whynot.experiments import runner
from whynot.models.common import CheckpointError
from whynot.profiles import PROFILES
from whynot.stats import normal_halfwidth
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
    table.add_argument("--summary", action="store_true",
                       help="one row per group: the mean, 95%% half-width (COL_ci) and count (n) "
                            "of every numeric column")
    table.add_argument("--by", metavar="COL,...", help="--summary's groups (default: every "
                       "text column, e.g. model, method, contrast)")
    return parser


def summarize(df: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
    """Mean, normal 95 % half-width (``COL_ci``) and count ``n`` of every numeric column, per
    group of ``by`` (default: the text columns); one row in all when there is no group."""
    if by is None:
        by = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    unknown = [c for c in by if c not in df.columns]
    if unknown:
        raise ValueError(f"--by names {unknown}, not columns of the table; its columns are "
                       f"{list(df.columns)}")
    numeric = [c for c in df.columns if c not in by and pd.api.types.is_numeric_dtype(df[c])
               and not pd.api.types.is_bool_dtype(df[c])]
    groups = df.groupby(by, sort=False) if by else df.groupby(lambda _: "all")
    summary = groups[numeric].mean()
    for column in numeric:
        summary[f"{column}_ci"] = groups[column].agg(normal_halfwidth)
    summary["n"] = groups.size()
    ordered = [name for column in numeric for name in (column, f"{column}_ci")] + ["n"]
    return summary[ordered].reset_index(drop=not by)


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

    # A missing store, data folder or weights file (FileNotFoundError), a failed download or a bad
    # checkpoint: the message already names the fix, so print it without the traceback.
    errors = (runner.StoreMismatchError, FileNotFoundError, ConnectionError, CheckpointError)
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
            if args.summary or args.by:
                try:
                    df = summarize(df, args.by.split(",") if args.by else None)
                except ValueError as err:
                    parser.error(str(err))
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
