"""Fingerprints of executed notebooks (whynot.book): what a chapter depends on, recorded when it
is executed, and the check that names what changed since (``python -m whynot.book stale``).
Tiny fixture notebooks, library and config stand in for the repository's."""
from __future__ import annotations

import shutil

import nbformat
import pytest

from test_book import PARAMETERS, write_source
from whynot import book

CONFIG = "repository:\n  url: https://example.org/whynot\n  branch: main\n"


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A repository in miniature: notebooks/nb.md, lib/whynot/ (code, weights) and _config.yml."""
    (tmp_path / "notebooks").mkdir()
    write_source(tmp_path / "notebooks", "nb", PARAMETERS, "print(profile)")
    library = tmp_path / "lib/whynot"
    (library / "models/weights").mkdir(parents=True)
    (library / "mod.py").write_text("ANSWER = 42\n")
    (library / "models/weights/net.pt").write_bytes(b"PK\x03\x04\x00weights\r\n")
    (library / "__pycache__").mkdir()
    (library / "__pycache__/mod.cpython-311.pyc").write_bytes(b"\x00compiled")
    (tmp_path / "_config.yml").write_text(CONFIG)
    point_at(tmp_path, monkeypatch)
    return tmp_path


def point_at(root, monkeypatch) -> None:
    monkeypatch.setattr(book, "NOTEBOOKS", root / "notebooks")
    monkeypatch.setattr(book, "LIBRARY", root / "lib/whynot")
    monkeypatch.setattr(book, "BOOK_CONFIG", root / "_config.yml")


def executed(out, name="nb", profile="default", metadata=None) -> None:
    """An executed notebook as ``execute`` leaves it, with the fingerprint of now (or
    ``metadata``), without running a kernel."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["whynot"] = book.fingerprint(name, profile) if metadata is None else metadata
    out.mkdir(exist_ok=True)
    nbformat.write(nb, out / f"{name}.ipynb")


def test_dependencies_are_the_source_config_and_library_without_bytecode(repo):
    assert list(book.dependencies("nb")) == [
        "notebooks/nb.md", "_config.yml", "lib/whynot/mod.py", "lib/whynot/models/weights/net.pt"
    ]


def test_the_repository_fingerprint_covers_weights_and_reference_data():
    keys = book.dependencies("03_heatmaps")
    assert "lib/whynot/models/weights/synth_vgg.pt" in keys and "lib/whynot/book.py" in keys
    assert any(k.startswith("lib/whynot/reference/") for k in keys)
    assert not any("__pycache__" in k or k.endswith(".pyc") for k in keys)


def test_fingerprint_is_content_not_place_time_or_line_endings(repo, tmp_path, monkeypatch):
    before = book.fingerprint("nb", "default")
    assert before["profile"] == "default"
    module = repo / "lib/whynot/mod.py"
    assert before["depends_on"]["lib/whynot/mod.py"] == book.content_hash(module)
    clone = tmp_path / "elsewhere/clone"
    shutil.copytree(repo / "lib", clone / "lib")
    shutil.copytree(repo / "notebooks", clone / "notebooks")
    shutil.copy(repo / "_config.yml", clone)
    (clone / "lib/whynot/mod.py").write_bytes(b"ANSWER = 42\r\n")  # a Windows checkout
    shutil.rmtree(clone / "lib/whynot/__pycache__")
    point_at(clone, monkeypatch)
    assert book.fingerprint("nb", "default") == before
    # Binary files are hashed as they are: a CRLF inside weights is data.
    weights = clone / "lib/whynot/models/weights/net.pt"
    weights.write_bytes(weights.read_bytes().replace(b"\r\n", b"\n"))
    assert book.fingerprint("nb", "default") != before


def test_fresh_notebook_is_not_stale(repo, capsys):
    executed(repo / "out")
    (repo / "lib/whynot/__pycache__/mod.cpython-311.pyc").write_bytes(b"\x00recompiled")
    assert book.changes("nb", "default", repo / "out") == []
    assert book.main(["stale", "--out", str(repo / "out")]) == 0
    assert "1 of 1 notebooks in" in capsys.readouterr().out


@pytest.mark.parametrize("edit, reason", [
    (lambda r: write_source(r / "notebooks", "nb", PARAMETERS, "print(2)"),
     "notebooks/nb.md changed"),
    (lambda r: (r / "lib/whynot/mod.py").write_text("ANSWER = 43\n"), "lib/whynot/mod.py changed"),
    (lambda r: (r / "lib/whynot/models/weights/net.pt").write_bytes(b"PK\x00retrained"),
     "lib/whynot/models/weights/net.pt changed"),
    (lambda r: (r / "lib/whynot/new.py").write_text(""), "lib/whynot/new.py added"),
    (lambda r: (r / "lib/whynot/mod.py").unlink(), "lib/whynot/mod.py removed"),
    (lambda r: (r / "_config.yml").write_text(CONFIG.replace("main", "dev")),
     "_config.yml changed"),
])
def test_a_changed_dependency_is_named(repo, capsys, edit, reason):
    executed(repo / "out")
    edit(repo)
    assert book.changes("nb", "default", repo / "out") == [reason]
    assert book.main(["stale", "--out", str(repo / "out")]) == 1
    err = capsys.readouterr().err
    assert f"out/nb.ipynb is stale: {reason}" in err
    assert "1 stale: run `python -m whynot.book execute --profile default --out" in err


def test_another_profile_is_stale(repo):
    executed(repo / "out", profile="smoke")
    assert book.changes("nb", "smoke", repo / "out") == []
    assert book.changes("nb", "default", repo / "out") == [
        "executed with profile 'smoke', not 'default'"
    ]


def test_notebook_without_fingerprint_or_not_executed_is_stale(repo):
    executed(repo / "out", metadata={"profile": "default"})  # as executed before fingerprints
    assert book.changes("nb", "default", repo / "out") == [
        "no fingerprint (executed before whynot.book recorded one)"
    ]
    assert book.changes("nb", "default", repo / "elsewhere") == ["not executed"]


def test_many_changes_are_summarised(repo, capsys):
    executed(repo / "out")
    for i in range(8):
        (repo / f"lib/whynot/new{i}.py").write_text("")
    assert book.report_stale(["nb"], "default", repo / "out") == ["nb"]
    assert capsys.readouterr().err.rstrip().endswith("lib/whynot/new5.py added and 2 more")


def test_the_fix_names_the_make_target():
    assert book._fix("default", book.ROOT / "book/executed", ["nb"]) == (
        "run `make book` and commit book/executed/"
    )
    assert book._fix("smoke", book.ROOT / "tests/golden", ["nb"]) == (
        "run `make golden` and commit tests/golden/"
    )
    assert "`make" not in book._fix("default", book.ROOT / "tests/golden", ["nb"])


def test_execute_records_the_fingerprint_and_reruns_only_stale_notebooks(repo, capsys):
    write_source(repo / "notebooks", "other", PARAMETERS, "print(profile)")
    out = repo / "out"
    assert book.main(["execute", "--profile", "default", "--out", str(out)]) == 0
    for name in ("nb", "other"):
        assert nbformat.read(out / f"{name}.ipynb", 4).metadata["whynot"] == book.fingerprint(
            name, "default"
        )
    capsys.readouterr()
    assert book.main(["execute", "--profile", "default", "--out", str(out), "--stale"]) == 0
    assert "executing" not in capsys.readouterr().out
    untouched = (out / "other.ipynb").stat().st_mtime_ns
    write_source(repo / "notebooks", "nb", PARAMETERS, 'print("edited")')
    assert book.main(["execute", "--profile", "default", "--out", str(out), "--stale"]) == 0
    printed = capsys.readouterr().out
    assert "executing notebooks/nb.md" in printed and "executing notebooks/other.md" not in printed
    assert (out / "other.ipynb").stat().st_mtime_ns == untouched
    assert nbformat.read(out / "nb.ipynb", 4).cells[-1].outputs[0]["text"] == "edited\n"
    assert book.changes("nb", "default", out) == []
