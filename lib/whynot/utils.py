"""Small shared helpers: the cache directory, atomic writes, seeding, progress bars."""
from __future__ import annotations

import contextlib
import json
import os
import random
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import torch

CACHE_ENV = "WHYNOT_CACHE"
PROGRESS_ENV = "WHYNOT_PROGRESS"


def cache_dir(*parts: str) -> Path:
    """Directory for generated data, checkpoints and downloads.

    ``$WHYNOT_CACHE`` overrides the default ``~/.cache/whynot``. Sub-folders are created.
    """
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "whynot")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _umask() -> int:
    mask = os.umask(0)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place only if the block succeeds.

    Readers never see a half-written file, and a crash leaves the old file (if any) intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the mode open() would
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def save_torch(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` that writes atomically."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def save_json(obj: Any, path: str | os.PathLike) -> None:
    """Write JSON atomically (sorted keys, so reruns give identical files)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a torch Generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def progress(iterable: Iterable, **kwargs: Any):
    """A tqdm progress bar, widget-style in notebooks.

    ``WHYNOT_PROGRESS=0`` turns bars off; the book executor sets it so that executed
    notebooks carry no progress-bar widgets.
    """
    from tqdm.auto import tqdm

    disable = os.environ.get(PROGRESS_ENV, "1") == "0"
    return tqdm(iterable, disable=disable, **kwargs)


def min_max(maps: torch.Tensor) -> torch.Tensor:
    """Each ``[..., H, W]`` map scaled to [0, 1]; a constant map becomes zeros."""
    low = maps.amin(dim=(-2, -1), keepdim=True)
    high = maps.amax(dim=(-2, -1), keepdim=True)
    return torch.where(high > low, (maps - low) / (high - low).clamp(min=torch.finfo(maps.dtype).tiny), 0.0)
