"""A wheel of whynot carries its weights and reference data and runs the README example, imported
from outside the repository (as a Colab user's `pip install` gets it)."""
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "lib" / "whynot"

# Run from the wheel's folder: prints where whynot came from, then the README example's output,
# then loads every kind of data file the library reads.
CHECK = """
import whynot
print(whynot.__file__)
{example}
from whynot.data.imagenet import IMAGENET_CLASSES
from whynot.models.zoo import load_model
print(IMAGENET_CLASSES[967], load_model("synth_vgg").whynot_meta["name"])
from whynot.experiments import abscam, blurring, groupcam, pgd
"""


# The training log that `python -m whynot.models.train` writes beside the weights: nothing reads it.
NOT_PACKAGED = {"whynot/models/weights/metrics.json"}


def data_files() -> set[str]:
    """Every file of the package that is not Python: weights, class lists, reference numbers."""
    return {str(p.relative_to(PACKAGE.parent)) for p in PACKAGE.rglob("*")
            if p.is_file() and p.suffix not in {".py", ".pyc"} and "__pycache__" not in p.parts
            } - NOT_PACKAGED


@pytest.mark.slow
def test_wheel_carries_the_data_and_runs_the_readme_example_outside_the_repository(tmp_path):
    # Built from a copy: setuptools writes build/ and *.egg-info/ beside the sources.
    source = tmp_path / "source"
    shutil.copytree(PACKAGE, source / "lib" / "whynot",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path / "dist"), str(source)],
                   check=True, capture_output=True)
    wheel, = (tmp_path / "dist").glob("whynot-*.whl")
    with zipfile.ZipFile(wheel) as zipped:
        missing = data_files() - set(zipped.namelist())
    assert not missing, f"the wheel lacks {sorted(missing)}: add them to package-data in pyproject"

    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(site), str(wheel)], check=True, capture_output=True)
    readme = (ROOT / "README.md").read_text()
    example = re.search(r"## The one-call API.*?```python\n(.*?)```", readme, re.S).group(1)
    # The repository's editable install is on sys.path too; PYTHONPATH comes first.
    run = subprocess.run([sys.executable, "-c", CHECK.format(example=example)], cwd=tmp_path,
                         env={"PYTHONPATH": str(site), "WHYNOT_CACHE": str(tmp_path / "cache"),
                              "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert Path(lines[0]).is_relative_to(site), f"imported {lines[0]}, not the wheel's copy"
    assert lines[1:] == ["torch.Size([2, 3, 224, 224])", "5", "['espresso', 'cup', 'consomme']",
                         "espresso synth_vgg"]
