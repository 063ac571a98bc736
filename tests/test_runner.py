"""The experiment runner: killed sessions resume, shards merge, bad stores and parts are caught."""
from __future__ import annotations

import hashlib
import io
import os
import random
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch
from toy_experiment import experiment

from whynot.experiments import runner
from whynot.experiments.__main__ import main
from whynot.experiments.runner import CorruptPartWarning, StoreMismatchError, run, status, table

TESTS = Path(__file__).parent
TOY = "toy_experiment:experiment"
TOTAL = 12  # batches of the default toy: 23 items, 2 per batch


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted, unsharded run's table, checked against run_batch over all batches."""
    exp = experiment()
    df = run(exp, out=tmp_path_factory.mktemp("reference"), progress=False)
    direct = pd.concat([exp.run_batch(b, torch.device("cpu")) for b in exp.batches], ignore_index=True)
    pd.testing.assert_frame_equal(df, direct, check_exact=True)
    assert len(df) == 23 * 3 and not df.duplicated(["image", "condition"]).any()
    return df


def counted(exp):
    """``exp`` with a run_batch that records the batch indices it is called for."""
    calls = []

    def run_batch(batch, device):
        calls.append(exp.batches.index(batch))
        return exp.run_batch(batch, device)

    return replace(exp, run_batch=run_batch), calls


def part_files(store: Path) -> list[str]:
    return sorted(p.name for p in (store / "parts").glob("*"))


def test_killed_runs_resume_to_the_uninterrupted_table(tmp_path, reference):
    """SIGKILL a real command-line run four times at random points, then let it finish."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
               TOY_DELAY="0.2", WHYNOT_CACHE=str(tmp_path / "cache"))
    command = [sys.executable, "-m", "whynot.experiments", "run", TOY, "--profile", "smoke",
               "--out", str(tmp_path)]
    store, rng = tmp_path / "toy", random.Random(0)
    for _ in range(4):
        before = len(part_files(store)) if store.exists() else 0
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while (len(part_files(store)) if store.exists() else 0) == before:  # let it get somewhere
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.2))  # anywhere within the next batch
        assert proc.poll() is None, "the run finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    assert 4 <= len(part_files(store)) < TOTAL
    done = subprocess.run(command, env=dict(env, TOY_DELAY="0"), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"toy: {TOTAL}/{TOTAL} batches done, {len(reference)} rows, store {store}" in done.stdout
    pd.testing.assert_frame_equal(table(store), reference, check_exact=True)
    assert part_files(store) == [f"part-{i:05d}.pkl" for i in range(TOTAL)]  # no temp files left
    assert sorted(p.name for p in store.iterdir()) == ["config.json", "parts"]


@pytest.mark.parametrize("n", [2, 3])
def test_shards_merge_bit_for_bit(tmp_path, reference, n):
    exp, calls = counted(experiment())
    for i in range(n):
        df = run(exp, out=tmp_path, shard=(i, n), progress=False)
        assert calls[-1] % n == i and len(calls) == (i + 1) * TOTAL // n
    assert sorted(calls) == list(range(TOTAL))
    pd.testing.assert_frame_equal(df, reference, check_exact=True)


def test_shards_from_torchrun_environment(tmp_path, reference, monkeypatch):
    exp, calls = counted(experiment())
    monkeypatch.setenv("WORLD_SIZE", "3")
    for rank in (2, 0, 1):
        monkeypatch.setenv("RANK", str(rank))
        partial = run(exp, out=tmp_path, progress=False)
        assert calls[-1] % 3 == rank
    assert len(calls) == TOTAL
    pd.testing.assert_frame_equal(partial, reference, check_exact=True)


@pytest.mark.slow
def test_a_real_torchrun_splits_the_batches_and_merges_to_one_run(tmp_path, reference):
    """Two ranks started by torchrun (the standard launcher) share one store."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
               WHYNOT_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    launched = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "whynot.experiments",
         "run", TOY, "--profile", "smoke", "--out", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=120)
    assert launched.returncode == 0, launched.stderr[-2000:]
    assert launched.stdout.count("batches done") == 2  # one summary line per rank
    pd.testing.assert_frame_equal(table(tmp_path / "toy"), reference, check_exact=True)


def test_partial_store_status_and_table(tmp_path, reference):
    store = tmp_path / "toy"
    df = run(experiment(), out=tmp_path, shard=(0, 2), progress=False)
    state = status(store)
    assert (state.name, state.version, state.total, state.config["n"]) == ("toy", 1, TOTAL, 23)
    assert state.done == tuple(range(0, TOTAL, 2)) and state.missing == tuple(range(1, TOTAL, 2))
    assert re.fullmatch(rf"toy v1: 6/{TOTAL} batches done \(50 %\), about \d+ s left at \d+ s "
                        rf"per batch, store {re.escape(str(store))}", str(state))
    expected = reference[(reference.image // 2) % 2 == 0].reset_index(drop=True)
    pd.testing.assert_frame_equal(df, expected, check_exact=True)
    pd.testing.assert_frame_equal(table(store), expected, check_exact=True)


def test_resume_skips_finished_batches(tmp_path):
    exp, calls = counted(experiment())
    run(exp, out=tmp_path, progress=False)
    assert calls == list(range(TOTAL))
    run(exp, out=tmp_path, progress=False)
    assert calls == list(range(TOTAL))  # nothing recomputed
    (tmp_path / "toy" / "parts" / "part-00005.pkl").unlink()
    run(exp, out=tmp_path, progress=False)
    assert calls[TOTAL:] == [5]


@pytest.mark.parametrize("change, difference", [
    (dict(scale=0.25), "config.scale: 0.5 in the store, 0.25 asked"),
    (dict(batch_size=3), f"batches: {TOTAL} items in the store, 8 asked"),
    (dict(version=2), "version: 1 in the store, 2 asked"),
])
def test_a_mismatched_store_is_refused(tmp_path, reference, change, difference):
    run(experiment(), out=tmp_path, progress=False)
    exp, calls = counted(experiment(**{k: v for k, v in change.items() if k != "version"}))
    exp = replace(exp, version=change.get("version", 1))
    with pytest.raises(StoreMismatchError) as err:
        run(exp, out=tmp_path, progress=False)
    message = str(err.value)
    assert difference in message and str(tmp_path / "toy") in message and "delete" in message
    assert calls == []
    pd.testing.assert_frame_equal(table(tmp_path / "toy"), reference, check_exact=True)
    assert runner.store_path(exp) != runner.store_path(experiment())  # the cache keeps them apart


def test_equal_numbers_of_another_type_are_refused_too(tmp_path):
    """1 and 1.0 give different keys (and part checks); accepting them would discard the parts."""
    run(experiment(scale=1), out=tmp_path, progress=False)
    with pytest.raises(StoreMismatchError, match=r"config\.scale: 1 in the store, 1\.0 asked"):
        run(experiment(scale=1.0), out=tmp_path, progress=False)


def _truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _flip(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 4]) + data[middle + 4:]


@pytest.mark.parametrize("damage, problem", [
    (_truncate, "checksum mismatch"), (_flip, "checksum mismatch"), ("other batch", "another batch"),
])
def test_damaged_parts_are_reported_and_recomputed(tmp_path, reference, damage, problem):
    store = tmp_path / "toy"
    run(experiment(), out=tmp_path, progress=False)
    part = store / "parts" / "part-00003.pkl"
    source = store / "parts" / "part-00000.pkl" if damage == "other batch" else part
    part.write_bytes(source.read_bytes() if damage == "other batch" else damage(part.read_bytes()))

    with pytest.warns(CorruptPartWarning, match=f"part-00003.pkl: .*{problem}.*skipped"):
        partial = table(store)
    pd.testing.assert_frame_equal(partial, reference[~reference.image.isin([6, 7])].reset_index(drop=True),
                                  check_exact=True)
    exp, calls = counted(experiment())
    with pytest.warns(CorruptPartWarning, match=f"part-00003.pkl: .*{problem}.*recomputed"):
        df = run(exp, out=tmp_path, progress=False)
    assert calls == [3]
    pd.testing.assert_frame_equal(df, reference, check_exact=True)


def test_an_intact_part_that_does_not_unpickle_is_kept(tmp_path):
    """Its bytes are as written (say, by another pandas version): days of results are not deleted."""
    run(experiment(), out=tmp_path, progress=False)
    part = tmp_path / "toy" / "parts" / "part-00003.pkl"
    part.write_bytes(b"not a pickle" + hashlib.sha256(b"not a pickle").digest())
    for attempt in (lambda: table(tmp_path / "toy"), lambda: run(experiment(), out=tmp_path)):
        with pytest.raises(StoreMismatchError, match="part-00003.pkl passes its checksum but cannot be "
                                                     "unpickled.*install those, or delete the part"):
            attempt()
    assert part.read_bytes().startswith(b"not a pickle")


def test_leftover_temp_files_of_this_shard_are_removed(tmp_path):
    run(experiment(), out=tmp_path, shard=(1, 2), progress=False)
    parts = tmp_path / "toy" / "parts"
    (parts / ".part-00000.pkl.x1.tmp").write_bytes(b"half")  # a killed session of shard 0
    (parts / ".part-00003.pkl.x2.tmp").write_bytes(b"half")  # maybe shard 1, still writing
    run(experiment(), out=tmp_path, shard=(0, 2), progress=False)
    assert part_files(tmp_path / "toy") == [".part-00003.pkl.x2.tmp"] + [
        f"part-{i:05d}.pkl" for i in range(TOTAL)]


def test_store_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("WHYNOT_CACHE", str(tmp_path))
    path = runner.store_path(experiment())
    assert path.parent == tmp_path / "experiments" / "toy" and len(path.name) == 16
    assert runner.store_path(experiment(delay=1.0)) == path  # the delay changes no result
    assert runner.store_path(experiment(profile="default")) != path
    assert runner.store_path(experiment(), out=tmp_path / "drive") == tmp_path / "drive" / "toy"


def test_bad_run_batch_results_and_shards_are_refused(tmp_path):
    exp = replace(experiment(), run_batch=lambda batch, device: batch)
    with pytest.raises(TypeError, match=r"'toy': run_batch returned a dict for batch 0 .*pandas DataFrame"):
        run(exp, out=tmp_path, progress=False)
    assert part_files(tmp_path / "toy") == []
    with pytest.raises(ValueError, match="0 <= i < n"):
        run(experiment(), out=tmp_path, shard=(2, 2))


def test_command_line_status_and_table(tmp_path, capsys, monkeypatch, reference):
    monkeypatch.setenv("WHYNOT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("WHYNOT_PROGRESS", "0")
    store = tmp_path / "toy"
    assert main(["run", TOY, "--profile", "smoke", "--out", str(tmp_path), "--shard", "0/2"]) == 0
    assert capsys.readouterr().out == f"toy: 6/{TOTAL} batches done, 36 rows, store {store}\n"
    assert main(["status", "toy", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith(f"toy v1: 6/{TOTAL} batches done (50 %), about ")
    assert main(["table", "toy", "--out", str(tmp_path), "--csv", str(tmp_path / "t.csv")]) == 0
    assert "6 of 12 batches of toy are missing" in capsys.readouterr().err
    assert len(pd.read_csv(tmp_path / "t.csv")) == 36

    assert main(["run", TOY, "--profile", "smoke", "--device", "cpu"]) == 0  # into the cache
    cached = runner.store_path(experiment())
    assert capsys.readouterr().out.endswith(f"{len(reference)} rows, store {cached}\n")
    assert main(["status", TOY, "--profile", "smoke"]) == 0
    assert capsys.readouterr().out == f"toy v1: {TOTAL}/{TOTAL} batches done (100 %), store {cached}\n"
    assert main(["table", TOY, "--profile", "smoke"]) == 0
    out, err = capsys.readouterr()
    csv = pd.read_csv(io.StringIO(out))
    assert err == "" and list(csv.columns) == list(reference.columns) and len(csv) == len(reference)
    pd.testing.assert_series_equal(csv.trace, reference.trace, check_exact=True)  # floats round-trip


@pytest.mark.parametrize("argv, message", [
    (["run", TOY, "--profile", "smoke", "--shard", "2/2"], "--shard must look like i/n with 0 <= i < n"),
    (["run", TOY, "--profile", "smoke", "--shard", "first"], "--shard must look like i/n"),
    (["run", "nope", "--profile", "smoke"], "unknown experiment 'nope'; known: abscam, blurring, dominating, foils, groupcam, localization, pgd, vit"),
    (["run", "no_such_module:experiment", "--profile", "smoke"], "cannot load the experiment factory"),
    (["run", TOY], "the following arguments are required: --profile"),
    (["status", TOY, "--out", "somewhere"], "a module:attr NAME needs --profile"),
])
def test_command_line_usage_errors(capsys, argv, message):
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2 and message in capsys.readouterr().err


def test_command_line_missing_store(tmp_path, capsys):
    run(experiment(), out=tmp_path, progress=False)
    assert main(["status", "pgd", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"no experiment store at {tmp_path / 'pgd'}" in err and f"stores in {tmp_path}: toy" in err


def test_status_gives_the_eta_from_the_pace_of_the_parts_written(tmp_path):
    """Parts written 60 s apart (one pause of an hour between sessions): 60 s per batch, and
    the missing batches at that pace."""
    run(experiment(), out=tmp_path, shard=(0, 3), progress=False)  # 4 of the 12 batches
    written = [0, 60, 3660, 3720]  # a resumed session between the 2nd and 3rd part
    for when, part in zip(written, sorted((tmp_path / "toy" / "parts").glob("part-*.pkl"))):
        os.utime(part, (1e9 + when, 1e9 + when))
    state = status(tmp_path / "toy")
    assert state.seconds_per_batch == 60 and state.eta_seconds == 8 * 60
    assert "4/12 batches done (33 %), about 8 min left at 60 s per batch" in str(state)
