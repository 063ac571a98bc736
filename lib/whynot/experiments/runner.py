"""Resumable, shardable experiments: one atomically written, checksummed part per finished batch.

A long experiment (days on a GPU) runs in sessions that die, like Colab's. An experiment is a
per-batch function over a fixed list of batches; every finished batch is written to the store as
one part, and a rerun computes only the missing ones (no duplicates, no holes). Results come back
as one DataFrame in batch order, identical whether the batches ran in one session, many, or in
shards on several GPUs::

    exp = Experiment("toy", 1, {"n": 8}, [{"start": 0, "stop": 4}, {"start": 4, "stop": 8}],
                     lambda batch, device: pd.DataFrame({"image": range(batch["start"], batch["stop"])}))
    df = run(exp)                  # killed halfway? run it again: finished batches are skipped
    df = run(exp, shard=(0, 2))    # or under torchrun, which sets RANK and WORLD_SIZE

Store layout: ``config.json`` (name, version, config, batches) and ``parts/part-00000.pkl``, ...
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import pickle
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd
import torch

from whynot import utils

# name -> "module:attr" of a factory ``factory(profile: str) -> Experiment``, imported on demand.
EXPERIMENTS: dict[str, str] = {
    "pgd": "whynot.experiments.pgd:experiment",
    "blurring": "whynot.experiments.blurring:experiment",
    "localization": "whynot.experiments.localization:experiment",
    "foils": "whynot.experiments.foils:experiment",
    "groupcam": "whynot.experiments.groupcam:experiment",
    "abscam": "whynot.experiments.abscam:experiment",
    "vit": "whynot.experiments.vit:experiment",
    "dominating": "whynot.experiments.dominating:experiment",
}

_DIGEST = hashlib.sha256().digest_size
_PART = re.compile(r"part-(\d{5})\.pkl")
_TEMP = re.compile(r"\.part-(\d{5})\.pkl\..*\.tmp")


@dataclass(frozen=True)
class Experiment:
    """A per-batch function over a fixed list of batches.

    ``config`` holds everything that determines the results and ``batches`` the batch specs
    (both JSON-serialisable); bump ``version`` when ``run_batch`` changes its results.
    ``run_batch(batch, device)`` returns one DataFrame (one row per image and condition).
    """

    name: str
    version: int
    config: Mapping[str, Any]
    batches: Sequence[Mapping[str, Any]]
    run_batch: Callable[[Mapping[str, Any], torch.device], pd.DataFrame]


@dataclass(frozen=True)
class StoreStatus:
    """What a store holds, from its ``config.json`` and the part files present (not verified)."""

    path: Path
    name: str
    version: int
    config: dict
    total: int
    done: tuple[int, ...]
    missing: tuple[int, ...]
    seconds_per_batch: float | None = None  # median gap between parts written; None below 2 parts

    @property
    def eta_seconds(self) -> float | None:
        """The missing batches at the median pace so far (None until two parts are written)."""
        if self.seconds_per_batch is None:
            return None
        return len(self.missing) * self.seconds_per_batch

    def __str__(self) -> str:
        share = 100 * len(self.done) / self.total if self.total else 100.0
        line = (f"{self.name} v{self.version}: {len(self.done)}/{self.total} batches done "
                f"({share:.0f} %)")
        if self.missing and self.eta_seconds is not None:
            line += (f", about {_duration(self.eta_seconds)} left at "
                     f"{_duration(self.seconds_per_batch)} per batch")
        return f"{line}, store {self.path}"


def _duration(seconds: float) -> str:
    """``42 s``, ``12 min``, ``3.5 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


class StoreMismatchError(ValueError):
    """The store on disk was made by another experiment, version, configuration or batch list."""


class UnknownExperimentError(ValueError):
    """An experiment name that is neither registered nor an importable ``module:attr`` path."""


class CorruptPartWarning(UserWarning):
    """A part file failed verification; ``run`` recomputes it, ``table`` skips it."""


def _spec(experiment: Experiment) -> dict:
    """The store's identity, through a JSON round trip (as ``config.json`` will read back)."""
    spec = dict(name=experiment.name, version=experiment.version,
                config=experiment.config, batches=list(experiment.batches))
    try:
        return json.loads(json.dumps(spec))
    except (TypeError, ValueError) as err:
        raise TypeError(f"experiment {experiment.name!r}: config and batches must be "
                        f"JSON-serialisable (plain numbers, strings, lists, dicts): {err}") from None


def _key(spec: Mapping) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def store_path(experiment: Experiment, out: str | os.PathLike | None = None) -> Path:
    """``out / name``, or without ``out`` a cache folder keyed by the whole configuration."""
    if out is not None:
        return Path(out) / experiment.name
    return utils.cache_dir("experiments", experiment.name) / _key(_spec(experiment))


def _differences(stored: Any, asked: Any, where: str = "") -> list[str]:
    """One line per differing leaf, e.g. ``config.eps: 0.003 in the store, 0.001 asked``."""
    if isinstance(stored, dict) and isinstance(asked, dict):
        return [line for k in sorted(stored.keys() | asked.keys())
                for line in _differences(stored.get(k, "absent"), asked.get(k, "absent"),
                                         f"{where}.{k}" if where else k)]
    if isinstance(stored, list) and isinstance(asked, list) and len(stored) == len(asked):
        return [line for i, (s, a) in enumerate(zip(stored, asked))
                for line in _differences(s, a, f"{where}[{i}]")]
    if isinstance(stored, list) and isinstance(asked, list):
        return [f"{where}: {len(stored)} items in the store, {len(asked)} asked"]
    same = stored == asked and type(stored) is type(asked)  # 1 and 1.0 give other keys
    return [] if same else [f"{where}: {stored!r} in the store, {asked!r} asked"]


def _read_config(path: Path) -> dict:
    try:
        return json.loads((path / "config.json").read_text())
    except FileNotFoundError:
        others = sorted(p.parent.name for p in path.parent.glob("*/config.json"))
        raise FileNotFoundError(
            f"no experiment store at {path} (no config.json); run the experiment first, or check "
            f"the name and --out/--profile" + (f" (stores in {path.parent}: {', '.join(others)})"
                                              if others else "")
        ) from None


def _open_store(path: Path, spec: dict) -> None:
    """Create the store, or check that the existing one holds this very experiment."""
    if not (path / "config.json").exists():
        utils.save_json(spec, path / "config.json")
        return
    stored = _read_config(path)
    diffs = _differences(stored, spec)
    if diffs:
        listed = "\n  ".join(diffs[:10] + ([f"... and {len(diffs) - 10} more"] if len(diffs) > 10 else []))
        raise StoreMismatchError(
            f"the experiment store {path} holds another configuration:\n  {listed}\n"
            f"Use another --out (or out=), or delete that folder to start over."
        )


def _part_file(path: Path, index: int) -> Path:
    return path / "parts" / f"part-{index:05d}.pkl"


def _write_part(path: Path, index: int, payload: dict) -> None:
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    with utils.atomic_path(_part_file(path, index)) as tmp:
        tmp.write_bytes(data + hashlib.sha256(data).digest())


def _verify(file: Path, data: bytes, expected: dict) -> tuple[pd.DataFrame | None, str | None]:
    """``(table, None)`` for a sound part, ``(None, what is wrong)`` for a damaged or misplaced one.

    An intact part that does not unpickle raises instead: its results are not thrown away."""
    payload, digest = data[:-_DIGEST], data[-_DIGEST:]
    if len(data) <= _DIGEST or hashlib.sha256(payload).digest() != digest:
        return None, "checksum mismatch (truncated or damaged)"
    try:
        part = pickle.loads(payload)
    except Exception as err:  # the bytes are as written: blame the environment, keep the results
        raise StoreMismatchError(
            f"{file} passes its checksum but cannot be unpickled here ({type(err).__name__}: {err}); "
            f"it was probably written with other pandas/numpy versions: install those, or delete "
            f"the part to recompute its batch"
        ) from err
    if not (isinstance(part, dict) and isinstance(part.get("table"), pd.DataFrame)
            and all(part.get(k) == v for k, v in expected.items())):
        return None, "it belongs to another batch or configuration"
    return part["table"], None


def _read_part(path: Path, index: int, spec: dict, recompute: bool) -> pd.DataFrame | None:
    """The part's table, or None if it is absent or fails verification (warned about, and
    deleted if ``recompute``). The checksum covers every byte, so a part is never read half."""
    file = _part_file(path, index)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        return None
    result, problem = _verify(file, data, dict(key=_key(spec), index=index, batch=spec["batches"][index]))
    if problem is None:
        return result
    if recompute:
        file.unlink(missing_ok=True)
        warnings.warn(f"{file}: {problem}; deleted, its batch will be recomputed", CorruptPartWarning)
    else:
        warnings.warn(f"{file}: {problem}; skipped, run the experiment again to recompute its batch",
                      CorruptPartWarning)
    return None


def _shard(shard: tuple[int, int] | None) -> tuple[int, int]:
    if shard is None:
        world = int(os.environ.get("WORLD_SIZE", 1))
        shard = (int(os.environ.get("RANK", 0)), world) if world > 1 else (0, 1)
    i, n = shard
    if not 0 <= i < n:
        raise ValueError(f"shard {i}/{n} does not exist: need 0 <= i < n, e.g. shard=(0, 2)")
    return i, n


def _device(device: str | torch.device | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def run(experiment: Experiment, out: str | os.PathLike | None = None, shard: tuple[int, int] | None = None,
        device: str | torch.device | None = None, progress: bool = True) -> pd.DataFrame:
    """Run this shard's missing batches, one part each; return ``table`` of the whole store.

    ``shard=(i, n)`` takes the batches with ``index % n == i``; by default the torchrun rank
    (``RANK``/``WORLD_SIZE``), else all. ``device`` defaults to ``cuda:$LOCAL_RANK`` or the cpu.
    """
    spec, path = _spec(experiment), store_path(experiment, out)
    i, n = _shard(shard)
    device = _device(device)
    _open_store(path, spec)
    mine = range(i, len(spec["batches"]), n)
    for temp in (path / "parts").glob(".part-*.tmp"):  # left by a killed session of this shard
        match = _TEMP.fullmatch(temp.name)
        if match and int(match[1]) % n == i:
            temp.unlink(missing_ok=True)
    missing = [index for index in mine if _read_part(path, index, spec, recompute=True) is None]
    todo = missing
    if progress:
        todo = utils.progress(missing, total=len(mine), initial=len(mine) - len(missing),
                              desc=experiment.name, unit="batch")
    for index in todo:
        result = experiment.run_batch(experiment.batches[index], device)
        if not isinstance(result, pd.DataFrame):
            raise TypeError(f"experiment {experiment.name!r}: run_batch returned a {type(result).__name__} "
                            f"for batch {index} {spec['batches'][index]}; it must return a pandas DataFrame")
        _write_part(path, index, dict(key=_key(spec), index=index, batch=spec["batches"][index],
                                      table=result))
    return table(path)


def status(path: str | os.PathLike) -> StoreStatus:
    """Name, version, configuration and finished/missing batches of the store at ``path``."""
    path = Path(path)
    spec = _read_config(path)
    parts = {int(m[1]): f for f in (path / "parts").glob("part-*.pkl")
             if (m := _PART.fullmatch(f.name))}
    total = len(spec["batches"])
    # The pace: the median gap between consecutive parts' write times (a resumed session's
    # pause is one gap among many, so it barely moves the median).
    written = sorted(f.stat().st_mtime for f in parts.values())
    gaps = sorted(b - a for a, b in zip(written, written[1:]))
    pace = gaps[len(gaps) // 2] if gaps else None
    return StoreStatus(path, spec["name"], spec["version"], spec["config"], total,
                       tuple(i for i in range(total) if i in parts),
                       tuple(i for i in range(total) if i not in parts), pace)


def table(path: str | os.PathLike) -> pd.DataFrame:
    """The finished, verified parts of the store at ``path``, merged in batch order."""
    path = Path(path)
    spec = _read_config(path)
    tables = [_read_part(path, i, spec, recompute=False) for i in range(len(spec["batches"]))]
    tables = [t for t in tables if t is not None]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def load_experiment(name: str, profile: str) -> Experiment:
    """Build a registered experiment (see ``EXPERIMENTS``) or a ``module:attr`` factory's."""
    if ":" not in name and name not in EXPERIMENTS:
        raise UnknownExperimentError(f"unknown experiment {name!r}; known: {', '.join(sorted(EXPERIMENTS))} "
                                     f"(or give a factory as module:attr)")
    module, _, attr = EXPERIMENTS.get(name, name).partition(":")
    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as err:
        raise UnknownExperimentError(f"cannot load the experiment factory {module}:{attr} ({err}); "
                                     f"check the name and that its module imports") from err
    experiment = factory(profile)
    if not isinstance(experiment, Experiment) or (name in EXPERIMENTS and experiment.name != name):
        raise TypeError(f"{module}:{attr}({profile!r}) must return an Experiment named {name!r}")
    return experiment
