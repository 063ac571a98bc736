"""The package's layering: chapter modules share code through shared modules only, and the low
levels (data, baselines, the package itself) never import what sits above them."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import whynot.experiments

EXPERIMENTS = Path(whynot.experiments.__file__).parent
#: The chapter modules and their chapter; what chapters share lives in the other modules.
CHAPTERS = {"theory": "01", "pgd": "02", "heatmaps": "03", "localization": "03", "foils": "03", "blurring": "04",
            "vit": "05", "groupcam": "06", "abscam": "07"}
#: The one import left between chapter modules: chapter 05 scores its maps with chapter 03's
#: localization_table and summarize (to move into parts.py once chapter 03's edits settle).


def imported_experiment_modules(path: Path) -> set[str]:
    """The ``whynot.experiments.*`` modules that ``path`` imports, at any depth of the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name.split(".")[2] for name in names
                  if name.startswith("whynot.experiments.") and name.count(".") >= 2}
    return found


def test_the_import_parser_sees_every_form():
    source = EXPERIMENTS / "groupcam.py"
    assert {"images", "parts", "evaluation", "plans", "runner"} <= imported_experiment_modules(source)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_no_chapter_module_imports_another(chapter):
    others = {name for name in imported_experiment_modules(EXPERIMENTS / f"{chapter}.py")
              if CHAPTERS.get(name, CHAPTERS[chapter]) != CHAPTERS[chapter]}
    assert not others, f"{chapter} imports another chapter's module(s) {sorted(others)}"


def loaded_after(statement: str) -> set[str]:
    """The modules in ``sys.modules`` after ``statement`` runs in a fresh interpreter."""
    script = f"import sys\n{statement}\nprint('\\n'.join(sys.modules))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    return set(result.stdout.split())


def test_importing_whynot_does_not_load_timm():
    assert "timm" not in loaded_after("import whynot")


LOW_LEVELS = ("whynot.baselines", "whynot.data.coco", "whynot.data.cub", "whynot.data.imagenet",
              "whynot.data.photos", "whynot.data.synthetic")


def test_low_levels_import_neither_metrics_nor_the_model_zoo():
    loaded = loaded_after("\n".join(f"import {module}" for module in LOW_LEVELS))
    assert set(LOW_LEVELS) <= loaded
    assert not {"whynot.metrics", "whynot.models.zoo"} & loaded
