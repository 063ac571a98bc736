"""The book pipeline: the executor, committed notebooks in sync with their sources, the TOC,
and (marked ``browser``) the built HTML's widgets in chromium, offline."""
from __future__ import annotations

import contextlib
import functools
import http.server
import json
import re
import subprocess
import threading
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import pytest
import yaml

from whynot import book
from whynot.utils import atomic_path

ROOT = book.ROOT
NAMES = book.notebook_names()
HEADER = """---
kernelspec:
  display_name: Python 3
  language: python
  name: python3
jupytext:
  text_representation:
    format_name: myst
---
"""


def write_source(folder: Path, name: str, *cells: str) -> None:
    body = "".join(f"\n```{{code-cell}} ipython3\n{cell}\n```\n" for cell in cells)
    (folder / f"{name}.md").write_text(HEADER + "\n# A title\n" + body)


PARAMETERS = ':tags: [parameters]\n\nprofile = "default"\nseed = 0'


@pytest.fixture
def notebooks(tmp_path, monkeypatch):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    monkeypatch.setattr(book, "NOTEBOOKS", folder)
    return folder


def test_default_profile_reads_the_literal_assignment():
    assert book.default_profile('seed = 3\nprofile = "smoke"\nn = len([1])') == "smoke"
    assert book.default_profile("profile = name") is None


def test_colab_cell_installs_from_the_configured_repository():
    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    cell = book.colab_install_cell()
    assert f'git+{repo["url"]}@{repo["branch"]}"' in cell.source
    assert 'if "google.colab" in sys.modules:' in cell.source
    assert set(cell.metadata["tags"]) == {book.HIDDEN_TAG, book.COLAB_TAG}


def test_execute_default_profile(notebooks, tmp_path):
    write_source(notebooks, "nb", PARAMETERS, "import ipywidgets\nipywidgets.IntSlider(seed)", "print(profile)")
    assert book.main(["execute", "--profile", "default", "--out", str(tmp_path / "out"), "nb"]) == 0
    nb = nbformat.read(tmp_path / "out" / "nb.ipynb", as_version=4)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert tags[0] == [book.HIDDEN_TAG, book.COLAB_TAG]
    assert not any(book.INJECTED_TAG in t for t in tags), "redundant injected cell kept"
    assert [c.id for c in nb.cells] == [f"cell-{i}" for i in range(len(nb.cells))]
    assert nb.metadata["whynot"] == book.fingerprint("nb", "default")
    assert "papermill" not in nb.metadata and "jupytext" not in nb.metadata
    assert not any("papermill" in c.metadata or "execution" in c.metadata for c in nb.cells)
    assert nb.cells[-1].outputs[0]["text"] == "default\n"
    assert nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert book.executed_code(nb) == book.executed_code(book.read_source("nb"))


def test_execute_other_profile_keeps_the_injected_cell(notebooks, tmp_path):
    write_source(notebooks, "nb", PARAMETERS, "print(profile)")
    assert book.main(["execute", "--profile", "smoke", "--out", str(tmp_path), "nb.md"]) == 0
    nb = nbformat.read(tmp_path / "nb.ipynb", as_version=4)
    assert [c.source for c in nb.cells if book.INJECTED_TAG in c.metadata.get("tags", [])] == [
        '# Parameters\nprofile = "smoke"\n'
    ]
    assert nb.cells[-1].outputs[0]["text"] == "smoke\n"


def test_failing_notebook_is_named_with_its_cell(notebooks, tmp_path, capsys):
    write_source(notebooks, "bad", PARAMETERS, "x = 1", 'raise RuntimeError("boom")')
    write_source(notebooks, "good", PARAMETERS)
    assert book.main(["execute", "--profile", "smoke", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "notebooks/bad.md failed in cell" in err and "RuntimeError: boom" in err
    assert "1 notebook(s) failed: bad" in err
    assert not (tmp_path / "bad.ipynb").exists() and (tmp_path / "good.ipynb").exists()


def test_unknown_notebook_lists_the_names(notebooks, capsys):
    write_source(notebooks, "a", PARAMETERS)
    with pytest.raises(SystemExit) as exit_:
        book.main(["execute", "--profile", "smoke", "nope"])
    assert exit_.value.code == 2
    assert "unknown notebook(s) ['nope']; the notebooks are ['a']" in capsys.readouterr().err


def test_source_without_parameters_cell_is_rejected(notebooks):
    write_source(notebooks, "a", "seed = 0")
    with pytest.raises(book.NotebookError, match="tagged `parameters`"):
        book.read_source("a")


@pytest.mark.parametrize(
    "folder, profile", [("book/executed", "default"), ("tests/golden", "smoke")]
)
def test_committed_notebooks_match_their_sources(folder, profile):
    """Re-run `make book` (book/executed) or `make golden` (tests/golden) when this fails."""
    assert sorted(p.stem for p in (ROOT / folder).glob("*.ipynb")) == NAMES
    for name in NAMES:
        nb = nbformat.read(ROOT / folder / f"{name}.ipynb", as_version=4)
        assert nb.metadata["whynot"]["profile"] == profile, name
        assert book.executed_code(nb) == book.executed_code(book.read_source(name)), (
            f"{folder}/{name}.ipynb is stale: its code differs from notebooks/{name}.md"
        )


# Round-off-sized numbers (1e-5 and smaller) and negative zeros differ between CPUs; a band
# against a tolerance ("< 1e-12", whynot.report.band) does not.
FRAGILE = re.compile(r"(?<![\w.])-0\.0+(?![\d])|(?<!< )\b\d(\.\d+)?e-(0[5-9]|[1-9]\d)\b")


# nbval's cell tag for "compare this cell's output", honoured with --nbval-lax (the Makefile's
# NBVAL line); a tag keeps the marker out of the code a reader sees and copies.
CHECK_TAG = "nbval-check-output"


def checked_outputs(path: Path) -> list[tuple[int, str]]:
    """``(cell index, printed text)`` of the cells tagged ``nbval-check-output``."""
    nb = nbformat.read(path, as_version=4)
    return [
        (i, "".join(o.get("text", "") for o in cell.outputs))
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and CHECK_TAG in cell.metadata.get("tags", [])
    ]


def test_nbval_checks_tagged_cells_in_lax_mode():
    from nbval.plugin import find_comment_markers, find_metadata_tags

    assert dict(find_metadata_tags({"tags": ["hide-input", CHECK_TAG]})) == {"check": True}
    assert not dict(find_metadata_tags({"tags": ["hide-input"]}))
    assert dict(find_comment_markers("x = 1")) == {}


@pytest.mark.parametrize("name", NAMES)
def test_checked_cells_are_tagged_not_commented(name):
    """The reader sees only code to copy: nbval's marker is a cell tag, not a comment."""
    golden = checked_outputs(ROOT / "tests" / "golden" / f"{name}.ipynb")
    source = book.read_source(name)
    commented = [c.source.splitlines()[0] for c in source.cells if "NBVAL_" in c.source]
    assert not commented, f"notebooks/{name}.md: use `:tags: [{CHECK_TAG}]`, not {commented}"
    tagged = [c for c in source.cells if CHECK_TAG in c.metadata.get("tags", [])]
    assert len(golden) == len(tagged) > 0, (
        f"tests/golden/{name}.ipynb has {len(golden)} checked cells, notebooks/{name}.md "
        f"{len(tagged)}: re-run `make golden`"
    )


def test_fragile_pattern_finds_round_off_and_negative_zero():
    assert FRAGILE.search("error 2.2e-16") and FRAGILE.search("change -0.0000")
    assert FRAGILE.search("1.8e-06  2.6e-06") and FRAGILE.search("7e-05")
    assert not FRAGILE.search("error < 1e-4, p 0.0412, -0.03, 2e-03, x-0.00y, 10.0 -0.5")
    assert not FRAGILE.search("max gap < 1e-12") and FRAGILE.search("gap 1e-12")


@pytest.mark.parametrize("name", NAMES)
def test_checked_cells_print_no_round_off(name):
    """DESIGN.md: checked cells print what holds on any machine (use whynot.report)."""
    fragile = [
        (i, match.group(0))
        for i, text in checked_outputs(ROOT / "tests" / "golden" / f"{name}.ipynb")
        for match in [FRAGILE.search(text)]
        if match
    ]
    assert not fragile, f"checked cells print round-off or -0 (cell, text): {fragile}"


# Characters of code or printed output that fit the code column without scrolling sideways,
# measured in chromium at the browser check's viewport (1280 px wide), 14 px monospace at
# 8.43 px a character: an output or a shown input has 652 px (77 characters), the input of a
# `hide-input` cell, once opened, 634 px (75). Wider windows fit more (85 at 1366 px, 89 from
# 1440 px); 1200-1280 px, where the page still shows both sidebars, fit 69-77.
CODE_COLUMN = 75


@pytest.mark.parametrize("name", NAMES)
def test_code_lines_fit_the_book_page(name):
    """Code cells are shown in the book: lines that fit the code column never scroll sideways."""
    long = [
        line
        for cell in book.read_source(name).cells
        for code in (
            [cell.source] if cell.cell_type == "code"
            else re.findall(r"^```python\n(.*?)^```", cell.source, re.M | re.S)  # in the prose
        )
        for line in code.splitlines()
        if len(line) > CODE_COLUMN
    ]
    assert not long, f"notebooks/{name}.md has code lines over {CODE_COLUMN} characters: {long}"


def shown_text(cell: nbformat.NotebookNode) -> list[str]:
    """The printed text a reader sees under a code cell: streams, and plain-text results that
    have no richer form (HTML, an image or a widget is shown instead of their text)."""
    if {"remove-cell", "remove-output"} & set(cell.metadata.get("tags", [])):
        return []
    texts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            texts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            if set(output.data) == {"text/plain"}:
                texts.append(output.data["text/plain"])
        elif output.output_type == "error":
            texts.append("\n".join(output.traceback))
    return texts


@pytest.mark.parametrize("name", NAMES)
def test_printed_lines_fit_the_book_page(name):
    """What the committed chapter prints fits the code column too (re-execute with `make book`
    after shortening a print)."""
    output_column = CODE_COLUMN + 2  # outputs are not inside a hide-input toggle
    nb = nbformat.read(ROOT / "book" / "executed" / f"{name}.ipynb", as_version=4)
    long = [
        (i, line)
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for text in shown_text(cell)
        for line in text.splitlines()
        if len(line) > output_column
    ]
    assert not long, f"book/executed/{name}.ipynb prints lines over {output_column}: {long}"


# The widest figure shown at its own size (CSS pixels at the browser check's 1280 px): the output
# column, 136 % of the text column in a cell tagged `full-width` (sphinx-book-theme's CSS).
FIGURE_PX = {"column": 688, "full-width": 935}


def image_widths(cell: nbformat.NotebookNode) -> list[int]:
    """Pixel widths of the PNG and JPEG figures a code cell shows."""
    import base64
    import io

    from PIL import Image

    return [
        Image.open(io.BytesIO(base64.b64decode(output.data[mime]))).width
        for output in cell.get("outputs", [])
        for mime in ("image/png", "image/jpeg")
        if mime in output.get("data", {})
    ]


@pytest.mark.parametrize("name", NAMES)
def test_figures_fit_the_book_page(name):
    """A figure wider than its column is shrunk, and its text (12 pt at 100 dpi:
    whynot.viz.BOOK_STYLE, the body text's 16 px) with it: make it narrower
    (whynot.viz.COLUMN_INCHES), or tag its cell `full-width` (FULL_WIDTH_INCHES)."""
    nb = nbformat.read(ROOT / "book" / "executed" / f"{name}.ipynb", as_version=4)
    wide = [
        (i, width)
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for column in ["full-width" if "full-width" in cell.metadata.get("tags", []) else "column"]
        for width in image_widths(cell)
        if width > FIGURE_PX[column] + 2
    ]
    assert not wide, f"book/executed/{name}.ipynb: figures wider than the page (cell, px): {wide}"


def test_toc_lists_every_notebook_once():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    chapters = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    assert chapters == ["book/claims"] + [f"book/executed/{name}" for name in NAMES] + ["book/api"]


# --- the built book in a browser -----------------------------------------------------------

HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
BROWSER_DIR = ROOT / "tests" / "browser"


@contextlib.contextmanager
def serve(folder: Path):
    """Serve ``folder`` on 127.0.0.1 at a free port; yield the base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def check_page(page: str, screenshot: Path) -> dict:
    """Open ``page`` of the built book in chromium (tests/browser/check_widgets.mjs); its report."""
    missing = [
        hint
        for path, hint in [
            (HTML / page, "build the book: make test (or jupyter-book build . --all -W -n)"),
            (Path("/usr/bin/chromium"), "install chromium: apt-get install -y chromium"),
            (BROWSER_DIR / "node_modules", "install playwright-core: npm ci --prefix tests/browser"),
        ]
        if not path.exists()
    ]
    assert not missing, "; ".join(missing)
    with serve(HTML) as base, atomic_path(screenshot) as shot:
        run = subprocess.run(
            ["node", str(BROWSER_DIR / "check_widgets.mjs"), base + page, str(shot)],
            capture_output=True, text=True, timeout=300,
        )
        assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    print(page, {k: v for k, v in report.items() if k != "requests"}, f"screenshot: {screenshot}")
    assert not report["errors"], report["errors"]
    assert not report["failed"], report["failed"]
    remote = [u for u in report["requests"] if urlsplit(u).hostname not in (None, "127.0.0.1", "localhost")]
    assert not remote, f"the page reached outside localhost: {remote}"
    return report


@pytest.mark.browser
def test_claims_page_shows_every_claim_and_the_front_page_its_summary():
    """The generated claims page renders one item per registered claim, and the front page
    shows the per-paper summary computed from the same records."""
    from whynot import claims
    from whynot.claims import page as claims_page

    report = check_page("book/claims.html", SCREENSHOTS / "claims.png")
    assert report["claimItems"] == len(claims.registry())
    front = (HTML / "book" / "intro.html").read_text()
    text = re.sub(r"<[^>]+>|\s+", " ", front)
    for line in claims_page.summary(claims_page.collect(book.CLAIMS_RECORDS)).values():
        assert line in text, f"front page lacks the summary {line!r}"


@functools.cache
def chapter_report(name: str) -> dict:
    """One chromium visit per chapter page (and its screenshot) for the tests below."""
    return check_page(f"book/executed/{name}.html", SCREENSHOTS / f"{name}.png")


@pytest.mark.browser
@pytest.mark.parametrize("name", NAMES)
def test_chapter_widgets_render_offline_and_explorers_switch_views(name):
    """Every chapter page: saved widgets render with no kernel and no request leaving localhost,
    and every dropdown of every explorer on it switches the picture in the browser alone."""
    report = chapter_report(name)
    assert report["rendered"], f"saved widget views did not render: {report}"
    assert report["views"] > 0 and report["subareas"] == report["views"]
    assert report["widgets"] > 0 and report["images"] >= 1
    assert report["explorers"] >= 1, "every chapter has an explorer (whynot.widgets.explorer)"
    assert report["loading"] == 0, "'Loading widget...' placeholders left"
    switched = {s["explorer"] for s in report["switches"]}
    assert switched == set(range(report["explorers"])), f"explorers without a dropdown: {report}"
    assert all(s["changed"] for s in report["switches"]), report["switches"]


# The smallest picture a reader can judge a heatmap in (a thumbnail), in CSS pixels.
THUMBNAIL_PX = 160


@pytest.mark.browser
@pytest.mark.parametrize("name", NAMES)
def test_chapter_page_fits_its_column_and_reads(name):
    """What a reader notices at the book's default width (1280 px): nothing scrolls sideways
    or sticks out of its column (code, output, tables), every picture has loaded and is at
    least a thumbnail, figures are not shrunk below the body text's size (their text is set
    by whynot.viz.BOOK_STYLE; a figure wider than the column is scaled down, and its text
    with it), and no table shows `nan`."""
    from whynot.viz import BOOK_STYLE

    layout = chapter_report(name)["layout"]
    overflow = layout["overflow"]
    assert not overflow, f"wider than the column ({layout['column']} px): {overflow}"
    unloaded = [image for image in layout["images"] if not image["loaded"]]
    assert not unloaded, f"images that did not load: {unloaded}"
    small = [i for i in layout["images"] if min(i["width"], i["height"]) < THUMBNAIL_PX]
    assert not small, f"pictures smaller than {THUMBNAIL_PX} px: {small}"
    figure_font_px = BOOK_STYLE["font.size"] * BOOK_STYLE["figure.dpi"] / 72
    shrunk = [
        {**image, "font_px": round(figure_font_px * image["width"] / image["naturalWidth"], 1)}
        for image in layout["images"]
        if not image["widget"] and figure_font_px * image["width"] / image["naturalWidth"]
        < layout["bodyFontPx"] - 0.5
    ]
    body = layout["bodyFontPx"]
    assert not shrunk, f"figures whose text renders below the body's {body} px: {shrunk}"
    assert not layout["nanRows"], f"table rows showing nan: {layout['nanRows']}"
