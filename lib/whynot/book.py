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

It is also a Sphinx extension (``extra_extensions`` in ``_config.yml``): see ``setup``.
"""
from __future__ import annotations

import argparse
import ast
import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat
import papermill
import yaml
from papermill.exceptions import PapermillExecutionError

from whynot import claims
from whynot.claims import page as claims_page
from whynot.profiles import PROFILES
from whynot.utils import PROGRESS_ENV, atomic_path

ROOT = Path(__file__).resolve().parents[2]
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
    nb = read_source(name)
    nb.cells.insert(0, colab_install_cell())
    records = out_dir / "claims"
    (records / f"{name}.json").unlink(missing_ok=True)
    os.environ[claims.CLAIMS_DIR_ENV] = str(records.resolve())  # the kernel inherits it
    nb.metadata.pop("jupytext", None)
    try:
        nb = papermill.execute_notebook(
            nb,
            None,
            parameters={"profile": profile},
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
    _tidy(nb, profile)
    path = out_dir / f"{name}.ipynb"
    with atomic_path(path) as tmp:
        nbformat.write(nb, tmp)
    return path


def _tidy(nb: nbformat.NotebookNode, profile: str) -> None:
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    if default_profile(params.source) == profile:
        nb.cells = [c for c in nb.cells if INJECTED_TAG not in c.metadata.get("tags", [])]
    nb.metadata.pop("papermill")
    nb.metadata["whynot"] = {"profile": profile}
    for i, cell in enumerate(nb.cells):
        cell.metadata.pop("papermill", None)
        cell.id = f"cell-{i}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m whynot.book", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("execute", help="execute notebooks/NAME.md into DIR/NAME.ipynb")
    run.add_argument("--profile", required=True, choices=sorted(PROFILES))
    run.add_argument(
        "--out", type=Path, help="output folder (default: book/executed for the default "
        "profile, _build/PROFILE otherwise)"
    )
    run.add_argument("names", nargs="*", metavar="NAME", help="notebook names (default: all)")
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
    # The kernel inherits these: no progress-bar widgets in saved outputs, stable hashing.
    os.environ.update({PROGRESS_ENV: "0", "PYTHONHASHSEED": "0"})

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
