"""scripts/floors.py: the pins CI installs are the lowest releases pyproject.toml's bounds allow."""

import importlib.util
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("floors", ROOT / "scripts" / "floors.py")
floors = importlib.util.module_from_spec(spec)
spec.loader.exec_module(floors)

RELEASES = [Version(v) for v in ("3.8.0", "4.0.0", "3.5.0", "3.6.1", "3.7.0", "4.0.0rc1", "3.6.0rc1", "10.0")]


@pytest.mark.parametrize("bound, pin", [(">=3.6,<4", "3.6.1"), (">=3.6", "3.6.1"), ("", "3.5.0"), (">3.7,<4", "3.8.0"), ("~=3.7", "3.7.0")])
def test_the_lowest_final_release_the_bound_allows(bound, pin):
    assert floors.lowest(Requirement(f"pytest-xdist{bound}"), RELEASES) == Version(pin)


def test_a_bound_nothing_satisfies_stops_the_run():
    with pytest.raises(SystemExit, match="no release of numpy with a wheel for this Python satisfies numpy>=99"):
        floors.lowest(Requirement("numpy>=99"), RELEASES)


def test_every_dependency_of_pyproject_is_pinned_once(monkeypatch, capsys, tmp_path):
    asked = []
    monkeypatch.setattr(floors, "releases", lambda name: asked.append(name) or RELEASES)
    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["pytest-xdist>=3.6,<4", "numpy[extra]>=3.7",'
                                             ' "tomli>=1; python_version < \'3.0\'"]\n')
    floors.main(str(tmp_path / "pyproject.toml"))
    assert capsys.readouterr().out.split() == ["pytest-xdist==3.6.1", "numpy[extra]==3.7.0"]
    assert asked == ["pytest-xdist", "numpy"]  # a dependency for another Python is not looked up
    many = [Version(f"{major}.{minor}") for major in range(30) for minor in range(10)]
    monkeypatch.setattr(floors, "releases", lambda name: many)
    floors.main(str(ROOT / "pyproject.toml"))  # the project's own: one pin per dependency, each its bound's
    pins = dict(line.split("==") for line in capsys.readouterr().out.split())
    declared = floors.tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert pins["pytest-xdist"] == "3.6" and len(pins) == len(declared)
