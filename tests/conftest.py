"""Shared fixtures: headless matplotlib and the location of the shared reference data."""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

os.environ.setdefault("MPLBACKEND", "Agg")

# In CI the property tests draw the same examples on every run (a failure there is one anyone
# can replay); elsewhere they draw new ones each run, and keep failures in .hypothesis/.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

# The library keeps compiled loops in the user's cache folder (dl_workshop.compilation.cache); the
# tests, and the processes they start, use a folder of their own, removed at the end.
os.environ["DL_WORKSHOP_CACHE_DIR"] = tempfile.mkdtemp(prefix="dl-workshop-test-jax-cache-")
atexit.register(shutil.rmtree, os.environ["DL_WORKSHOP_CACHE_DIR"], ignore_errors=True)

#: ../shared next to the project root (read-only in CI); tests that need it skip without it.
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared reference data not found at {SHARED}")
    return SHARED


#: The longest tests (each 10-60 s on 2 cores), started first: pytest-xdist hands tests out in
#: collection order, and a long test left for the end runs while the other worker sits idle.
_SLOW_FIRST = (
    "test_grade.py::test_one_run_grades_the_three_lessons",
    "test_grade_sandbox.py",
    "test_browser.py",
    "test_grade.py",
    "test_benchmarks.py",
    "test_bench_distributed.py",
    "test_notebooks.py",
    "test_kill.py",
)


def pytest_collection_modifyitems(config, items):
    def rank(item):
        return next(
            (i for i, key in enumerate(_SLOW_FIRST) if key in item.nodeid), len(_SLOW_FIRST)
        )

    items.sort(key=rank)  # stable: the order within each group is kept
