"""environment.yml (conda users) lists the same requirements as pyproject.toml."""
from __future__ import annotations

import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
ENVIRONMENT = yaml.safe_load((ROOT / "environment.yml").read_text())


def by_name(lines: list[str]) -> dict[str, str]:
    """Requirement lines as {canonical name: specifier}, without references to whynot itself."""
    requirements = [Requirement(line) for line in lines]
    named = {canonicalize_name(r.name): str(r.specifier) for r in requirements}
    assert len(named) == len(requirements), f"a requirement is listed twice: {lines}"
    named.pop(canonicalize_name(PYPROJECT["name"]), None)
    return named


def test_pip_section_matches_pyproject():
    extras = PYPROJECT["optional-dependencies"]
    expected = by_name(PYPROJECT["dependencies"] + extras["book"] + extras["test"])
    pip = next(d["pip"] for d in ENVIRONMENT["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip, "environment.yml must install this repository (`-e .`)"
    assert by_name([line for line in pip if line != "-e ."]) == expected


def test_python_version_is_supported():
    conda = [d for d in ENVIRONMENT["dependencies"] if isinstance(d, str)]
    assert "pip" in conda
    (python,) = [d for d in conda if d.startswith("python=")]
    assert python.removeprefix("python=") in SpecifierSet(PYPROJECT["requires-python"])


# The first releases built against numpy 2 (pytorch/pytorch#107302: torch 2.3 is the first
# that supports it); older wheels crash ("compiled using NumPy 1.x") when numpy 2 is installed.
FIRST_BUILT_FOR_NUMPY_2 = {"torch": "2.3", "torchvision": "0.18"}


def test_torch_ranges_admit_no_release_that_crashes_beside_numpy_2():
    ranges = by_name(PYPROJECT["dependencies"])
    numpy = SpecifierSet(ranges["numpy"])
    for name, first in FIRST_BUILT_FOR_NUMPY_2.items():
        allowed = SpecifierSet(ranges[name])
        floors = [Version(s.version) for s in allowed if s.operator in (">=", "==", "~=")]
        if numpy.contains("2.0.0"):
            assert floors and min(floors) >= Version(first), (
                f"pyproject allows {name}{allowed} with numpy{numpy}: {name} before {first} is "
                f"built for numpy 1 and crashes beside numpy 2; raise the floor or cap numpy<2"
            )
    assert not numpy.contains("1.23.0"), "numpy's floor must stay at 1.24 or above"
