"""What the benchmarks share (run as scripts, so this folder is on sys.path)."""
from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path


def cpu_name() -> str:
    """The processor's model name, printed beside every timing."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def seconds(run: Callable[[], object]) -> float:
    """Wall-clock seconds of one call of ``run``."""
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def paired_medians(run: Callable[[], object], floor: Callable[[], object], floor_units: int,
                   units: int, repeats: int) -> dict[str, float]:
    """Median ms per unit of ``run`` and its ratio to the floor per unit, the floor timed right
    before and right after each run (the sandwich cancels most of the drift in a shared machine's
    load); the ratio is the median of the per-run ratios."""
    triples = [(seconds(floor), seconds(run), seconds(floor)) for _ in range(repeats)]
    pairs = [((before + after) / 2 / floor_units, run_s / units) for before, run_s, after in triples]
    return {"floor_ms": 1e3 * statistics.median(f for f, _ in pairs),
            "run_ms": 1e3 * statistics.median(r for _, r in pairs),
            "ratio": statistics.median(r / f for f, r in pairs)}


def add_run_options(parser, out: Path, repeats: int = 3) -> None:
    """``--repeats``, ``--threads`` (default: the CPUs this process may use) and ``--out``."""
    import os

    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--out", type=Path, default=out)


def start_run(args) -> dict:
    """Set torch's thread count from ``args``; the setup every result file records."""
    import torch

    torch.set_num_threads(args.threads)
    return {"torch": torch.__version__, "threads": args.threads, "cpu": cpu_name(), "repeats": args.repeats}


def batch_sizes(text: str) -> dict[str, int]:
    """``"synth_vit=32,vit_b_16=2"`` -> ``{"synth_vit": 32, "vit_b_16": 2}``."""
    return {name: int(count) for name, count in (item.split("=") for item in text.split(","))}


def ours_vs_naive(mine: dict[str, float], peer: dict[str, float]) -> dict[str, float]:
    """One row of a benchmark that times our batched code and a naive loop against the same
    floor (two :func:`paired_medians` results): both times, both ratios and the speed-up."""
    return {"floor_ms": statistics.median([mine["floor_ms"], peer["floor_ms"]]),
            "ours_ms": mine["run_ms"], "ours_ratio": mine["ratio"],
            "naive_ms": peer["run_ms"], "naive_ratio": peer["ratio"],
            "speedup": peer["run_ms"] / mine["run_ms"]}


def default_device() -> str:
    """``cuda`` where a GPU is present, else ``cpu`` (every benchmark's ``--device`` default)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def device_name(device) -> str:
    """The card's name on CUDA (``NVIDIA H100 80GB HBM3``), else the processor's."""
    import torch

    device = torch.device(device)
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()


def synced(run: Callable[[], object], device) -> Callable[[], object]:
    """``run`` followed by ``torch.cuda.synchronize`` on a GPU, so wall-clock times and peak
    memory cover the kernels it queued, not just their launch."""
    import torch

    device = torch.device(device)
    if device.type != "cuda":
        return run

    def run_and_wait(*args):
        result = run(*args)
        torch.cuda.synchronize(device)
        return result

    return run_and_wait


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise OSError(f"/proc/self/status has no {field}")


def peak_memory_mib(run: Callable[[], object], device) -> float | None:
    """Peak memory one call of ``run`` adds above what was in use just before it, in MiB.

    CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats`` (tensors only,
    not the caching allocator's reserve). CPU: the peak resident set size (Linux ``VmHWM``,
    reset by writing 5 to ``/proc/self/clear_refs``) minus the resident size before the call;
    freed memory the allocator keeps for reuse hides later calls' growth, so call this in a
    fresh process per measurement (``bench_engine.py`` does). None where neither is available.
    """
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        run()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    try:
        Path("/proc/self/clear_refs").write_text("5")
        base = _status_kib("VmRSS")
    except OSError:
        return None
    run()
    return (_status_kib("VmHWM") - base) / 1024
