"""Executing one learner notebook headless for the grader, whatever its cells do.

Each notebook runs in its own kernel (nbclient), cell by cell, errors allowed, each cell under a
time limit: a cell past it is interrupted, and if the kernel does not come back (or dies, e.g.
``os._exit``) the notebook is run again in a fresh kernel without that cell. After the last
cell one more cell runs the checkers in the same kernel
(:func:`~dl_workshop.checks.grade_kernel.report`). Needs ``nbclient`` and ``ipykernel``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import time
from pathlib import Path
from queue import Empty
from typing import Any, NamedTuple

import jax
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbclient.util import ensure_async

from dl_workshop.checks import hints_grade
from dl_workshop.checks.grade_kernel import MARKER

OK, ERROR, TIMEOUT, LOST, SKIPPED = "ok", "error", "timeout", "lost", "skipped"

#: Kernels one notebook may use: a lost kernel is replaced, skipping the cell that lost it.
_MAX_KERNELS = 3

#: The error name nbclient gives a cell that ran past its time.
_TIMED_OUT = "DlWorkshopCellTimeout"

#: Seconds an interrupted kernel has to answer again before it counts as hung.
_PING_S = 10

#: Seconds a kernel may take to start.
_STARTUP_S = 60

#: The checks' cell may take this many per-cell time limits per exercise, plus a margin.
_CHECK_LIMITS_PER_EXERCISE = 4
_CHECK_MARGIN_S = 60


class CellRun(NamedTuple):
    status: str  # OK, ERROR, TIMEOUT, LOST (crashed or hung the kernel) or SKIPPED
    detail: str = ""  # the error's first line, or how the kernel was lost


class NotebookRun(NamedTuple):
    cells: dict[int, CellRun]  # by index in the notebook's cells, code cells only
    reports: dict[str, dict[str, str]]  # exercise -> {"status": ..., "message": ...}
    notes: list[str]  # what the run had to work around
    checks_problem: str | None  # why the checks did not all report, if they did not


class _KernelLostError(Exception):
    """The kernel died or hung in cell ``index``; ``cells``: the cells that timed out before."""

    def __init__(self, index: int, how: str, cells: dict[int, CellRun] | None = None) -> None:
        super().__init__(how)
        self.index, self.how, self.cells = index, how, cells or {}


#: nbclient's own log (time-outs, a dead kernel) would interleave with the progress bar; the
#: grader reports those itself.
_QUIET = logging.getLogger("dl_workshop.checks.notebook_run.nbclient")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


def run_notebook(
    notebook: nbformat.NotebookNode,
    names: list[str],
    *,
    timeout: float,
    cwd: Path,
    seed: int,
) -> NotebookRun:
    """Execute ``notebook`` (a copy), then check ``names`` in its kernel.

    Args:
        notebook: the learner's notebook (not modified).
        names: the exercises to check, in order.
        timeout: seconds each cell may run (and each call of learner code during the checks).
        cwd: the folder the kernel runs in (the notebook's own, so relative paths work).
        seed: the seed of the checkers' inputs.
    """
    # Cells not to run again in a fresh kernel: those that lost a kernel or timed out.
    known: dict[int, CellRun] = {}
    notes: list[str] = []
    for _ in range(_MAX_KERNELS):
        try:
            return _run_once(notebook, names, timeout, cwd, seed, known, notes)
        except _KernelLostError as error:
            known.update(error.cells)
            known[error.index] = CellRun(LOST, error.how)
            notes.append(hints_grade.NOTE_RERUN.format(cell=error.index + 1, lost=error.how))
    notes.append(hints_grade.NOTE_GAVE_UP.format(n=_MAX_KERNELS))
    return NotebookRun(dict(known), {}, notes, notes[-1])


#: Seconds between polls of the kernel's shell channel (see :class:`RepollingClient`).
SHELL_POLL_S = 0.5


class RepollingClient(NotebookClient):
    """nbclient's ``NotebookClient``, polling the kernel's shell channel every ``SHELL_POLL_S``.

    With ipywidgets in a cell, nbclient sometimes sees the cell's reply only when the cell's
    whole timeout has run out (jupyter/nbclient#312, open): a widget cell of a lesson took
    120 s instead of 0.5 s in about one run in two here, and a grader would have called it
    endless. Short polls in a loop receive the reply when it comes; the deadline is the same.
    """

    async def async_start_new_kernel_client(self) -> Any:
        kc = await super().async_start_new_kernel_client()
        kc.shell_channel.get_msg = _repolling(kc.shell_channel.get_msg)
        return kc


def _repolling(get_msg: Any) -> Any:
    async def repolled(timeout: float | None = None) -> Any:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = SHELL_POLL_S if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                return await ensure_async(get_msg(timeout=min(SHELL_POLL_S, left)))
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    return repolled


def _client(notebook: nbformat.NotebookNode, timeout: float, cwd: Path) -> NotebookClient:
    client = RepollingClient(
        notebook,
        timeout=max(1, round(timeout)),
        allow_errors=True,
        # A cell past its time is interrupted and answered with this error at once, so that
        # nbclient stops reading its output (a kernel that ignores the interrupt is caught by
        # the next cell, see _ping).
        interrupt_on_timeout=True,
        error_on_timeout={"ename": _TIMED_OUT, "evalue": "", "traceback": []},
        kernel_name="python3",
        startup_timeout=_STARTUP_S,
        shutdown_kernel="immediate",
        resources={"metadata": {"path": str(cwd)}},
        # Only the kernel's errors on its stderr, not its start-up notices.
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
        log=_QUIET,
    )
    client.replies = []  # each executed cell's reply, for _timed_out
    client.on_cell_executed = lambda cell, cell_index, execute_reply: client.replies.append(
        execute_reply
    )
    return client


def _timed_out(client: NotebookClient) -> bool:
    """The cell just executed ran past its time (and was interrupted)."""
    reply = client.replies[-1] if client.replies else None
    return bool(reply) and reply.get("content", {}).get("ename") == _TIMED_OUT


def _run_once(
    notebook: nbformat.NotebookNode,
    names: list[str],
    timeout: float,
    cwd: Path,
    seed: int,
    known: dict[int, CellRun],
    notes: list[str],
) -> NotebookRun:
    """One kernel: every code cell but those that lost a kernel or timed out before, then
    the checks."""
    notebook = copy.deepcopy(notebook)
    client = _client(notebook, timeout, cwd)
    cells: dict[int, CellRun] = {}
    with client.setup_kernel(env=_kernel_env()):
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            if index in known:
                cells[index] = known[index]
                continue
            try:
                cells[index] = _execute(client, cell, index, timeout)
            except _KernelLostError as error:
                error.cells = {i: run for i, run in cells.items() if run.status == TIMEOUT}
                raise
        reports, problem = _check(client, names, timeout, seed)
    return NotebookRun(cells, reports, notes, problem)


def _kernel_env() -> dict[str, str]:
    """The kernel's environment: headless figures, and this process's JAX compilation cache
    (so that the class's notebooks share compiled code)."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    folder = jax.config.jax_compilation_cache_dir
    if folder:
        env["JAX_COMPILATION_CACHE_DIR"] = folder
        env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
        env.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
    return env


def _execute(client: NotebookClient, cell: Any, index: int, timeout: float) -> CellRun:
    """Run one cell; its outcome. Raises _KernelLostError if the kernel died or hung."""
    try:
        client.execute_cell(cell, index)
    except DeadKernelError:
        raise _KernelLostError(index, hints_grade.LOST_CRASHED) from None
    if _timed_out(client):
        _ping(client, index)
        detail = hints_grade.CELL_TIMEOUT.format(cell=index + 1, timeout=timeout)
        return CellRun(TIMEOUT, detail)
    errors = [output for output in cell.get("outputs", []) if output.output_type == "error"]
    if errors:
        first = errors[0]
        line = (first.get("evalue") or "").strip().splitlines()
        detail = f"{first.get('ename', 'Error')}: {line[0]}" if line else first.get("ename", "")
        return CellRun(ERROR, detail)
    return CellRun(OK)


def _ping(client: NotebookClient, index: int) -> None:
    """After a time-out: raise _KernelLostError if the kernel does not answer again."""
    saved, client.timeout = client.timeout, _PING_S
    try:
        _run_extra(client, "pass")
        hung = _timed_out(client)
    except DeadKernelError:
        hung = True
    finally:
        client.timeout = saved
    if hung:
        raise _KernelLostError(index, hints_grade.LOST_HUNG)


def _check(
    client: NotebookClient, names: list[str], timeout: float, seed: int
) -> tuple[dict[str, dict[str, str]], str | None]:
    """Run the checkers in the kernel; the reports read back, and why any are missing."""
    code = (
        "import dl_workshop.checks.grade_kernel as _dl_workshop_grade\n"
        f"_dl_workshop_grade.report(globals(), {names!r}, seed={seed}, time_limit={timeout!r})"
    )
    saved = client.timeout
    client.timeout = round(timeout * _CHECK_LIMITS_PER_EXERCISE * len(names) + _CHECK_MARGIN_S)
    problem = None
    try:
        _run_extra(client, code)
        if _timed_out(client):
            problem = hints_grade.CHECKS_TIMED_OUT.format(timeout=client.timeout)
    except DeadKernelError:
        problem = hints_grade.CHECKS_LOST_KERNEL
    finally:
        client.timeout = saved
    return _reports(client.nb.cells[-1]), problem


def _run_extra(client: NotebookClient, source: str) -> Any:
    """Run code that is not the learner's as a new last cell of the client's notebook copy."""
    cell = nbformat.v4.new_code_cell(source)
    client.nb.cells.append(cell)
    return client.execute_cell(cell, len(client.nb.cells) - 1)


def _reports(cell: Any) -> dict[str, dict[str, str]]:
    """The lines :func:`~dl_workshop.checks.grade_kernel.report` printed, by exercise."""
    text = "".join(
        output.get("text", "")
        for output in cell.get("outputs", [])
        if output.output_type == "stream" and output.get("name") == "stdout"
    )
    reports = {}
    for line in text.splitlines():
        if line.startswith(MARKER):
            entry = json.loads(line[len(MARKER) :])
            reports[entry["exercise"]] = {"status": entry["status"], "message": entry["message"]}
    return reports
