"""Atomic writes: all or nothing, with the permissions a plain open() would give."""
import os
import stat

import pytest

from whynot.utils import atomic_path, save_json


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "results.json"
    save_json({"a": 1}, target)
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text().strip().startswith("{") and '"a": 1' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_atomic_write_uses_the_umask_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        save_json({}, tmp_path / "x.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.json").stat().st_mode) == 0o644
