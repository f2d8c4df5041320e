"""The import paths from before the package was grouped by role still work (dl_workshop._moved)."""

import importlib
import subprocess
import sys

import pytest

import dl_workshop
from dl_workshop._moved import MOVED, new_name


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_path_is_the_module_at_its_new_home(old):
    module = importlib.import_module(f"dl_workshop.{old}")
    assert module is importlib.import_module(f"dl_workshop.{MOVED[old]}")
    assert module.__name__ == f"dl_workshop.{MOVED[old]}"
    assert module.__spec__.name == module.__name__  # the alias left the real spec in place


def test_a_submodule_of_a_moved_package_is_not_loaded_twice():
    grade = importlib.import_module("dl_workshop.checks.grade")
    assert grade is importlib.import_module("dl_workshop.teaching.checks.grade")
    assert new_name("dl_workshop.checks.grade") == "dl_workshop.teaching.checks.grade"
    assert new_name("dl_workshop.checksum") is None
    assert new_name("dl_workshop.estimator") is None


def test_from_imports_of_old_paths_in_a_fresh_process():
    code = (
        "from dl_workshop.data import x, make_y\n"
        "from dl_workshop.optimization import fit\n"
        "from dl_workshop.checks import check_mseloss\n"
        "from dl_workshop.logistic import logistic_model\n"
        "import dl_workshop.logistic, dl_workshop\n"
        "assert callable(dl_workshop.logistic)\n"
        "assert not isinstance(dl_workshop.logistic, type(dl_workshop))\n"
        "assert fit is dl_workshop.fit\n"
        "print(len(x))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["100"]


def test_the_function_logistic_is_not_shadowed_by_its_old_module():
    importlib.import_module("dl_workshop.logistic")
    assert dl_workshop.logistic(0.0) == pytest.approx(0.5)
