"""Execute the book's notebooks (``python -m whynot.book execute --profile P [--out DIR] [NAMES]``)
and generate the claims page from their records (``python -m whynot.book claims``).

Each ``notebooks/NAME.md`` (jupytext MyST markdown) runs through papermill with
``-p profile P``, in ``notebooks/``, with progress bars off, and is written to
``DIR/NAME.ipynb`` with its widget state. Before execution a Colab install cell is prepended
(hidden in the book); after it, papermill's injected-parameters cell is dropped when it only
restates the parameters cell's defaults (so the book, and Colab users, see one parameters cell),
run metadata (timings, paths) is removed and cell ids are numbered, so reruns give small diffs.
The kernel writes the chapter's claim records to ``DIR/claims/NAME.json`` (``whynot.claims``);
the stale file is removed first, so a chapter that stops recording leaves no old verdicts.

Each executed notebook records in ``metadata.whynot`` the profile and a content hash of every
file it depends on (``fingerprint``: its source, the library with its weights and reference
data, ``_config.yml``). ``python -m whynot.book stale`` names the chapters whose recorded
fingerprint no longer matches, and what changed; ``execute --stale`` re-executes only those.

It is also a Sphinx extension (``extra_extensions`` in ``_config.yml``): see ``setup``.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat
import papermill
import yaml
from papermill.exceptions import PapermillExecutionError

from whynot import claims, rehearsal
from whynot.claims import page as claims_page
from whynot.profiles import PROFILES
from whynot.utils import PROGRESS_ENV, atomic_path

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = Path(__file__).resolve().parent  # code, committed weights and reference data
NOTEBOOKS = ROOT / "notebooks"
BOOK_CONFIG = ROOT / "_config.yml"
CLAIMS_RECORDS = ROOT / "book/executed/claims"
CLAIMS_PAGE = ROOT / "book/claims.md"
CLAIMS_SUMMARY = ROOT / "book/_claims_summary.md"  # included by the front page
README = ROOT / "README.md"
KERNEL = "python3"
COLAB_TAG = "colab-install"
INJECTED_TAG = "injected-parameters"
HIDDEN_TAG = "remove-cell"


class NotebookError(ValueError):
    """A notebook source is missing or malformed, or its execution failed."""


def notebook_names() -> list[str]:
    """Stems of the notebook sources, in book order."""
    if not NOTEBOOKS.is_dir():
        raise NotebookError(
            f"{NOTEBOOKS} not found: `python -m whynot.book` runs from a source checkout "
            "(pip install -e .), not from an installed package"
        )
    return sorted(p.stem for p in NOTEBOOKS.glob("*.md"))


def read_source(name: str) -> nbformat.NotebookNode:
    """The notebook ``notebooks/NAME.md``, checked to have a parameters cell that sets ``profile``."""
    nb = jupytext.read(NOTEBOOKS / f"{name}.md", fmt="md:myst")
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1 or default_profile(cells[0].source) is None:
        raise NotebookError(
            f"notebooks/{name}.md needs exactly one code cell tagged `parameters` (found "
            f"{len(cells)}) that assigns `profile = \"default\"`; add `:tags: [parameters]` to it"
        )
    return nb


def default_profile(source: str) -> str | None:
    """The string that a parameters cell assigns to ``profile``, if it assigns one literally."""
    for node in ast.parse(source).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "profile" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    return None


def executed_code(nb: nbformat.NotebookNode) -> list[str]:
    """Sources of the code cells that came from the notebook's source file (not the Colab
    install cell, nor papermill's injected parameters)."""
    return [
        c.source
        for c in nb.cells
        if c.cell_type == "code" and not {COLAB_TAG, INJECTED_TAG} & set(c.metadata.get("tags", []))
    ]


def content_hash(path: Path) -> str:
    """``sha256:`` of a file's bytes, with CRLF read as LF in text files (git may check them out
    either way), so that any clone of the same commit hashes alike."""
    data = path.read_bytes()
    if b"\0" not in data[:8000]:  # git's test for a binary file
        data = data.replace(b"\r\n", b"\n")
    return "sha256:" + hashlib.sha256(data).hexdigest()


def dependencies(name: str) -> dict[str, Path]:
    """The files an executed chapter depends on, keyed by their path in the repository: its
    source, every library file (code, committed weights, reference data) and ``_config.yml``."""
    library = {
        f"lib/whynot/{path.relative_to(LIBRARY).as_posix()}": path
        for path in sorted(LIBRARY.rglob("*"))
        if path.is_file()
        and "__pycache__" not in path.relative_to(LIBRARY).parts
        and path.suffix != ".pyc"
    }
    return {f"notebooks/{name}.md": NOTEBOOKS / f"{name}.md", "_config.yml": BOOK_CONFIG, **library}


def fingerprint(name: str, profile: str) -> dict:
    """What chapter ``name`` executed with ``profile`` depends on, as its executed notebook
    records it in ``metadata.whynot``: ``{"profile": profile, "depends_on": {path: hash}}``
    (``content_hash`` of each of its ``dependencies``; content only, so not mtimes)."""
    files = {key: content_hash(path) for key, path in dependencies(name).items()}
    return {"profile": profile, "depends_on": files}


def changes(name: str, profile: str, out_dir: Path) -> list[str]:
    """Why ``out_dir/NAME.ipynb`` is stale against a run of ``notebooks/NAME.md`` with
    ``profile`` now, one reason a line; empty when its fingerprint matches.

    >>> changes("03_heatmaps", "default", ROOT / "book/executed")  # doctest: +SKIP
    ['lib/whynot/targets.py changed', 'notebooks/03_heatmaps.md changed']
    """
    path = out_dir / f"{name}.ipynb"
    if not path.exists():
        return ["not executed"]
    recorded = nbformat.read(path, as_version=4).metadata.get("whynot", {})
    if recorded.get("profile") != profile:
        return [f"executed with profile {recorded.get('profile')!r}, not {profile!r}"]
    if "depends_on" not in recorded:
        return ["no fingerprint (executed before whynot.book recorded one)"]
    old, new = recorded["depends_on"], fingerprint(name, profile)["depends_on"]
    return [
        f"{key} {'added' if key not in old else 'removed' if key not in new else 'changed'}"
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key)
    ]


def report_stale(names: list[str], profile: str, out_dir: Path) -> list[str]:
    """Print each stale chapter of ``names`` in ``out_dir`` with what changed; return them."""
    stale = []
    for name in names:
        reasons = changes(name, profile, out_dir)
        if reasons:
            more = f" and {len(reasons) - 6} more" if len(reasons) > 6 else ""
            print(f"{_shown(out_dir / f'{name}.ipynb')} is stale: {', '.join(reasons[:6])}{more}",
                  file=sys.stderr)
            stale.append(name)
    return stale


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _fix(profile: str, out_dir: Path, names: list[str]) -> str:
    """The one command that brings ``names`` in ``out_dir`` up to date."""
    targets = {("default", "book/executed"): "make book", ("smoke", "tests/golden"): "make golden"}
    command = targets.get((profile, _shown(out_dir.resolve())))
    if command:
        return f"run `{command}` and commit {_shown(out_dir)}/"
    names = " ".join(names)
    return f"run `python -m whynot.book execute --profile {profile} --out {out_dir} {names}`"


def colab_install_cell() -> nbformat.NotebookNode:
    """A cell that installs whynot from the repository (``_config.yml``) when run on Colab."""
    repo = yaml.safe_load(BOOK_CONFIG.read_text())["repository"]
    source = (
        "# On Colab, install whynot first (elsewhere, `make book` has installed it).\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install -q "whynot @ git+{repo["url"]}@{repo["branch"]}"'
    )
    return nbformat.v4.new_code_cell(source, metadata={"tags": [HIDDEN_TAG, COLAB_TAG]})


def execute(name: str, profile: str, out_dir: Path) -> Path:
    """Execute ``notebooks/NAME.md`` with ``profile``; write and return ``out_dir/NAME.ipynb``."""
    stamp = fingerprint(name, profile)  # before reading: an edit during the run makes it stale
    nb = read_source(name)
    nb.cells.insert(0, colab_install_cell())
    if profile == rehearsal.PROFILE:  # the full profile's code on fixtures (whynot.rehearsal)
        nb.cells.insert(1, nbformat.v4.new_code_cell(
            "from whynot import rehearsal\n\nprint(rehearsal.announcement())"))
    records = out_dir / "claims"
    (records / f"{name}.json").unlink(missing_ok=True)
    os.environ[claims.CLAIMS_DIR_ENV] = str(records.resolve())  # the kernel inherits it
    nb.metadata.pop("jupytext", None)
    try:
        nb = papermill.execute_notebook(
            nb,
            None,
            parameters={"profile": "full" if profile == rehearsal.PROFILE else profile},
            kernel_name=KERNEL,
            cwd=str(NOTEBOOKS),
            progress_bar=False,
            record_timing=False,
        )
    except PapermillExecutionError as e:
        raise NotebookError(
            f"notebooks/{name}.md failed in cell {e.cell_index} (In [{e.exec_count}], "
            f"starting {e.source.splitlines()[0]!r}): {e.ename}: {e.evalue}{e}"
        ) from None
    _tidy(nb, stamp)
    path = out_dir / f"{name}.ipynb"
    with atomic_path(path) as tmp:
        nbformat.write(nb, tmp)
    return path


def _tidy(nb: nbformat.NotebookNode, stamp: dict) -> None:
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    if default_profile(params.source) == stamp["profile"]:
        nb.cells = [c for c in nb.cells if INJECTED_TAG not in c.metadata.get("tags", [])]
    nb.metadata.pop("papermill")
    nb.metadata["whynot"] = stamp  # the profile and the fingerprint
    for i, cell in enumerate(nb.cells):
        cell.metadata.pop("papermill", None)
        cell.id = f"cell-{i}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m whynot.book", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("execute", help="execute notebooks/NAME.md into DIR/NAME.ipynb")
    run.add_argument("--profile", required=True, choices=sorted([*PROFILES, rehearsal.PROFILE]),
                     help=f"{rehearsal.PROFILE}: the full profile's code on small fixtures, "
                     "at random weights (whynot.rehearsal)")
    run.add_argument(
        "--out", type=Path, help="output folder (default: book/executed for the default "
        "profile, _build/PROFILE otherwise)"
    )
    run.add_argument("names", nargs="*", metavar="NAME", help="notebook names (default: all)")
    run.add_argument("--stale", action="store_true",
                     help="execute only the notebooks whose fingerprint does not match (stale)")
    check = commands.add_parser(
        "stale", help="name the executed notebooks in DIR whose fingerprint (source, library, "
        "_config.yml, profile) does not match, and what changed; exit status 1 if any"
    )
    check.add_argument("--profile", default="default",
                       help="the profile they were executed with (default: default)")
    check.add_argument("--out", type=Path, help="folder of executed notebooks (as for execute)")
    check.add_argument("names", nargs="*", metavar="NAME", help="notebook names (default: all)")
    page = commands.add_parser(
        "claims", help="generate the claims page, the front page's summary and the README's "
        "from the chapters' records"
    )
    page.add_argument("--records", type=Path, default=CLAIMS_RECORDS,
                      help="folder of the chapters' records (default: book/executed/claims)")
    mode = page.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="write nothing; fail if the committed page or summaries are stale")
    mode.add_argument("--validate", action="store_true",
                      help="write nothing; only check that every claim has a valid record")
    args = parser.parse_args(argv)
    if args.command == "claims":
        return generate_claims(args.records, check=args.check, validate=args.validate)

    try:
        available = notebook_names()
    except NotebookError as e:
        parser.error(str(e))
    names = [n.removesuffix(".md") for n in args.names] or available
    unknown = sorted(set(names) - set(available))
    if unknown:
        parser.error(f"unknown notebook(s) {unknown}; the notebooks are {available}")
    out_dir = args.out or ROOT / ("book/executed" if args.profile == "default" else f"_build/{args.profile}")
    if args.command == "stale" or args.stale:
        stale = report_stale(names, args.profile, out_dir)
        print(f"{len(names) - len(stale)} of {len(names)} notebooks in {_shown(out_dir)} are up "
              f"to date (profile {args.profile})", flush=True)
        if args.command == "stale":
            if stale:
                print(f"{len(stale)} stale: {_fix(args.profile, out_dir, stale)}", file=sys.stderr)
            return int(bool(stale))
        if not stale:
            return 0
        names = stale
    # The kernel inherits these: no progress-bar widgets in saved outputs, stable hashing.
    os.environ.update({PROGRESS_ENV: "0", "PYTHONHASHSEED": "0"})
    if args.profile == rehearsal.PROFILE:
        if out_dir.resolve() == CLAIMS_RECORDS.parent:
            parser.error("the rehearsal's random-weight outputs never go into book/executed; "
                         "pass another --out (default: _build/rehearsal)")
        print(f"building the rehearsal's fixtures in {out_dir} ...", flush=True)
        os.environ.update(rehearsal.prepare(out_dir))

    failed = []
    for name in names:
        print(f"executing notebooks/{name}.md (profile {args.profile}) ...", flush=True)
        start = time.perf_counter()
        try:
            path = execute(name, args.profile, out_dir)
        except NotebookError as e:
            print(f"FAILED {e}", file=sys.stderr, flush=True)
            failed.append(name)
            continue
        print(f"  {time.perf_counter() - start:.1f} s -> {path}", flush=True)
    if failed:
        print(f"{len(failed)} notebook(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def generate_claims(records: Path, check: bool = False, validate: bool = False) -> int:
    """Write (or ``check`` against the committed files) the claims page, the front page's
    summary and the README's, from the records in ``records``; with ``validate``, only check
    the records. A missing record or an unknown verdict fails with a one-line error."""
    try:
        found = claims_page.collect(records)
        if validate:
            print(f"{len(found)} claims recorded in {records}: "
                  f"{claims.tally(r.verdict for r in found.values())}")
            return 0
        outputs = {
            CLAIMS_PAGE: claims_page.render(found),
            CLAIMS_SUMMARY: claims_page.summary_markdown(found),
            README: claims_page.readme_section(README.read_text(), found, "book/claims.md"),
        }
    except claims.ClaimError as e:
        print(f"claims: {e}", file=sys.stderr)
        return 1
    stale = [path for path, text in outputs.items() if not path.exists() or path.read_text() != text]
    if check:
        if stale:
            names = ", ".join(str(p.relative_to(ROOT)) for p in stale)
            print(f"claims: {names} out of date with {records}: run `python -m whynot.book claims`"
                  " and commit", file=sys.stderr)
            return 1
        return 0
    for path in stale:
        with atomic_path(path) as tmp:
            tmp.write_text(outputs[path])
    print(f"claims page: {len(found)} claims, {claims.tally(r.verdict for r in found.values())}")
    return 0


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    # Sphinx 7.4 lists an inline script that an extension registers after the builder starts
    # twice (once as filename None, once as ""); sphinx-thebe's `const THEBE_JS_URL` then
    # throws "Identifier has already been declared" on every page.
    scripts = context.get("script_files")
    if scripts is None:
        return
    seen = set()
    for js in list(scripts):
        key = (js.filename or "", js.priority, tuple(sorted(js.attributes.items())))
        if key in seen:
            scripts.remove(js)
        seen.add(key)


def setup(app) -> dict:
    """Sphinx extension: fixes for the book's toolchain (jupyter-book 1, Sphinx 7.4)."""
    app.connect("html-page-context", _drop_duplicate_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    sys.exit(main())
