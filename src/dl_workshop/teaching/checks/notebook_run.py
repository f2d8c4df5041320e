"""Executing one learner notebook headless for the grader, whatever its cells do.

Each notebook runs in its own kernel (nbclient; in the sandbox of
:mod:`~dl_workshop.teaching.checks.sandbox` unless the instructor turned it off), cell by cell,
errors
allowed, each cell under a time limit and the whole notebook under another: a cell past its
time is interrupted, and if the kernel does not come back (or dies, e.g. ``os._exit``) the
notebook is run again in a fresh kernel without that cell. Outputs beyond a byte budget are
dropped, in the kernel as well as here (the cell goes on until it ends or times out). After
the last cell the grader's probe asks the kernel's agent (:mod:`~dl_workshop.teaching.checks.
grade_kernel`) to call the learner's functions, one ``user_expressions`` request at a time;
then the kernel and everything it started are killed.
Needs ``nbclient`` and ``ipykernel``.
"""

from __future__ import annotations

import copy
import json
import logging
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from queue import Empty
from typing import Any, NamedTuple

import nbformat
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbclient.util import ensure_async

from dl_workshop.teaching.checks import hints_grade, sandbox
from dl_workshop.teaching.checks.remote import KernelLostError
from dl_workshop.teaching.checks.sandbox import Limits, kernel_manager

OK, ERROR, TIMEOUT, LOST, SKIPPED = "ok", "error", "timeout", "lost", "skipped"

#: Kernels one notebook may use: a lost kernel is replaced, skipping the cell that lost it.
_MAX_KERNELS = 3

#: The error name nbclient gives a cell that ran past its time.
_TIMED_OUT = "DlWorkshopCellTimeout"

#: Seconds an interrupted kernel has to answer again before it counts as hung.
_PING_S = 10

#: Seconds a kernel may take to start.
_STARTUP_S = 60

#: Seconds the grader waits for one probe's answer beyond the learner code's own limit.
_CALL_MARGIN_S = 10

#: Longest error line kept from a cell.
_MAX_DETAIL = 300


class CellRun(NamedTuple):
    status: str  # OK, ERROR, TIMEOUT, LOST (crashed or hung the kernel) or SKIPPED
    detail: str = ""  # the error's first line, or how the kernel was lost


class NotebookRun(NamedTuple):
    cells: dict[int, CellRun]  # by index in the notebook's cells, code cells only
    probed: Any  # what the probe returned (None when it did not run)
    notes: list[str]  # what the run had to work around
    checks_problem: str | None  # why the checks did not run, if they did not


class _KernelLostError(Exception):
    """The kernel died or hung in cell ``index``; ``cells``: the cells that timed out before."""

    def __init__(self, index: int, how: str, cells: dict[int, CellRun] | None = None) -> None:
        super().__init__(how)
        self.index, self.how, self.cells = index, how, cells or {}


#: nbclient's own log (time-outs, a dead kernel) would interleave with the progress bar; the
#: grader reports those itself.
_QUIET = logging.getLogger("dl_workshop.teaching.checks.notebook_run.nbclient")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


def run_notebook(
    notebook: nbformat.NotebookNode,
    *,
    timeout: float,
    kernel: KernelSpec,
    probe: Callable[[Callable[[str, float], str]], Any],
) -> NotebookRun:
    """Execute ``notebook`` (a copy), then call ``probe(execute)`` while its kernel still runs.

    Args:
        notebook: the learner's notebook (not modified).
        timeout: seconds each cell may run.
        kernel: where and how each kernel starts (its folders, limits, sandbox).
        probe: the grader's questions to the kernel: ``execute(expression, timeout)`` evaluates
            an expression there and gives its ``text/plain`` result (raising
            :class:`~dl_workshop.teaching.checks.remote.KernelLostError` when the kernel does not
            answer); what ``probe`` returns is the run's ``probed``.
    """
    # Cells not to run again in a fresh kernel: those that lost a kernel or timed out.
    known: dict[int, CellRun] = {}
    notes: list[str] = []
    deadline = time.monotonic() + kernel.limits.wall_seconds
    for _ in range(_MAX_KERNELS):
        try:
            return _run_once(notebook, timeout, kernel, probe, known, notes, deadline)
        except _KernelLostError as error:
            known.update(error.cells)
            known[error.index] = CellRun(LOST, error.how)
            notes.append(hints_grade.NOTE_RERUN.format(cell=error.index + 1, lost=error.how))
    notes.append(hints_grade.NOTE_GAVE_UP.format(n=_MAX_KERNELS))
    return NotebookRun(dict(known), None, notes, notes[-1])


class KernelSpec(NamedTuple):
    """Where one notebook's kernels run: ``work`` (its working directory, holding only the
    notebook), ``run`` (its channels' sockets), the limits, and whether in the sandbox."""

    work: Path
    run: Path
    limits: Limits
    sandboxed: bool


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


def _repolling(get_msg: Any, *, poll_s: float = SHELL_POLL_S) -> Any:
    """``get_msg`` asked every ``poll_s`` seconds until its ``timeout`` has passed."""

    async def repolled(timeout: float | None = None) -> Any:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = poll_s if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                return await ensure_async(get_msg(timeout=min(poll_s, left)))
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    return repolled


def _client(notebook: nbformat.NotebookNode, timeout: float, kernel: KernelSpec) -> Any:
    client = _CappedClient(
        notebook,
        km=kernel_manager(kernel.work, kernel.run, kernel.limits, sandboxed=kernel.sandboxed),
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
        resources={"metadata": {"path": str(kernel.work)}},
        # Only the kernel's errors on its stderr, not its start-up notices; its outputs capped
        # at their source.
        extra_arguments=["--IPKernelApp.log_level=ERROR", _cap_outputs(kernel.limits)],
        log=_QUIET,
    )
    client.output_left = kernel.limits.output_bytes
    client.replies = []  # each executed cell's reply, for _timed_out
    client.on_cell_executed = lambda cell, cell_index, execute_reply: client.replies.append(
        execute_reply
    )
    return client


#: Run in each kernel before its first cell, in a namespace of its own, so that endless output
#: stops at the output budget inside the kernel too, not only in the grader. Else printing in a
#: loop fills the kernel's memory (its ``RLIMIT_DATA``) long before the cell's time runs out,
#: and the kernel dies ("crashed"): IPython (9) keeps every string printed in its output
#: history, ipykernel buffers what is printed between two sends (0.2 s of ``print``: hundreds
#: of MB) and serializes it whole, and ZeroMQ queues what the grader has not yet read. So: no
#: output history (the grader never reads it), and ipykernel's streams and ``display`` forward
#: at most the budget plus one character, then drop the rest. ``write`` becomes a property of
#: the stream class, as IPython wraps and restores each stream's ``write`` around every cell
#: (the original restored counts as the capped one). Whatever the kernel drops, the grader has
#: received more than its budget (its byte count of a message is at least its characters), so
#: it notes that outputs were dropped. A notebook that undoes this only floods its own kernel.
_CAP_OUTPUTS = """
from ipykernel.iostream import OutStream
from IPython import get_ipython

left = [BUDGET + 1]
plain = OutStream.write

def capped(self, text):
    if isinstance(text, str):
        if len(text) > left[0]:
            kept, left[0] = text[: max(left[0], 0)], 0
            if kept:
                plain(self, kept)
            return len(text)
        left[0] -= len(text)
    return plain(self, text)

def get_write(self):
    wrapper = self.__dict__.get("_capped_wrapper")
    return capped.__get__(self) if wrapper is None else wrapper

def set_write(self, value):
    original = getattr(value, "__func__", None) in (plain, capped)
    self.__dict__["_capped_wrapper"] = None if original else value

def capped_publish(publish):
    def publish_capped(data, *args, **kwargs):
        if left[0] <= 0:
            return None
        values = data.values() if isinstance(data, dict) else [data]
        left[0] -= sum(len(str(value)) for value in values)
        return publish(data, *args, **kwargs)
    return publish_capped

class Forgetful(dict):
    def __missing__(self, key):
        return []

OutStream.write = property(get_write, set_write)
shell = get_ipython()
if shell is not None:
    shell.display_pub.publish = capped_publish(shell.display_pub.publish)
    if hasattr(shell.history_manager, "outputs"):
        shell.history_manager.outputs = Forgetful()
"""


def _cap_outputs(limits: Limits) -> str:
    """The kernel's option that runs :data:`_CAP_OUTPUTS` with the notebook's budget."""
    code = _CAP_OUTPUTS.replace("BUDGET", str(int(limits.output_bytes)))
    return f"--IPKernelApp.exec_lines=exec({code!r}, {{}})"


class _CappedClient(RepollingClient):
    """Keeps at most ``output_left`` bytes of what the kernel publishes (outputs, display
    updates, widget messages); the rest is dropped. Status and error messages always pass:
    they end a cell."""

    output_left: int = 0
    dropped: bool = False

    def process_message(self, msg: dict, cell: Any, cell_index: int) -> Any:
        if msg.get("msg_type") not in _ALWAYS_KEPT:
            size = len(json.dumps(msg.get("content", {}), default=str))
            if size > self.output_left:
                self.output_left, self.dropped = 0, True
                return None
            self.output_left -= size
        return super().process_message(msg, cell, cell_index)


#: Kernel messages kept past the output budget (small, and needed to end a cell).
_ALWAYS_KEPT = frozenset({"status", "error", "execute_input", "clear_output"})


def _timed_out(client: NotebookClient) -> bool:
    """The cell just executed ran past its time (and was interrupted)."""
    reply = client.replies[-1] if client.replies else None
    return bool(reply) and reply.get("content", {}).get("ename") == _TIMED_OUT


def _run_once(
    notebook: nbformat.NotebookNode,
    timeout: float,
    kernel: KernelSpec,
    probe: Callable[[Callable[[str, float], str]], Any],
    known: dict[int, CellRun],
    notes: list[str],
    deadline: float,
) -> NotebookRun:
    """One kernel: every code cell but those that lost a kernel or timed out before, then
    the probe."""
    notebook = copy.deepcopy(notebook)
    client = _client(notebook, timeout, kernel)
    cells: dict[int, CellRun] = {}
    pid, watchdog = None, None
    try:
        # The kernel's own stdout/stderr (not its cells' outputs) would reach the grader's
        # terminal: a notebook could write fake summary lines there.
        with client.setup_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
            pid = sandbox.kernel_pid(client.km)
            if kernel.sandboxed and pid is not None:
                watchdog = sandbox.Watchdog(pid, kernel.limits.processes)
            _cells(client, notebook, timeout, known, cells, deadline)
            probed, problem = _probe(client, probe, deadline, watchdog)
    except _KernelLostError as error:
        if watchdog is not None and watchdog.tripped:
            error.how = hints_grade.LOST_PROCESSES.format(limit=kernel.limits.processes)
        raise
    finally:
        if watchdog is not None:
            watchdog.stop()
        sandbox.kill_tree(pid)
    notes += _limit_notes(client, watchdog, deadline, kernel.limits)
    return NotebookRun(cells, probed, notes, problem)


def _cells(
    client: Any,
    notebook: nbformat.NotebookNode,
    timeout: float,
    known: dict[int, CellRun],
    cells: dict[int, CellRun],
    deadline: float,
) -> None:
    """Run the code cells in order, each within the per-cell and the notebook's time."""
    for index, cell in list(enumerate(notebook.cells)):  # not the pings appended (_run_extra)
        if cell.cell_type != "code":
            continue
        left = deadline - time.monotonic()
        if index in known or left < 1:
            cells[index] = known.get(index, CellRun(SKIPPED, hints_grade.OUT_OF_TIME))
            continue
        client.timeout = max(1, round(min(timeout, left)))
        try:
            cells[index] = _execute(client, cell, index, client.timeout)
        except _KernelLostError as error:
            error.cells = {i: run for i, run in cells.items() if run.status == TIMEOUT}
            raise


def _limit_notes(client: Any, watchdog: Any, deadline: float, limits: Limits) -> list[str]:
    notes = []
    if client.dropped:
        notes.append(hints_grade.NOTE_OUTPUT_DROPPED.format(limit=limits.output_bytes))
    if watchdog is not None and watchdog.tripped:
        notes.append(hints_grade.NOTE_PROCESSES.format(limit=limits.processes))
    if time.monotonic() >= deadline:
        notes.append(hints_grade.NOTE_WALL.format(limit=limits.wall_seconds))
    return notes


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
        line = (str(first.get("evalue") or "")).strip().splitlines()
        detail = f"{first.get('ename', 'Error')}: {line[0]}" if line else first.get("ename", "")
        return CellRun(ERROR, str(detail)[:_MAX_DETAIL])
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


def _run_extra(client: NotebookClient, source: str) -> Any:
    """Run code that is not the learner's as a new last cell of the client's notebook copy."""
    cell = nbformat.v4.new_code_cell(source)
    client.nb.cells.append(cell)
    return client.execute_cell(cell, len(client.nb.cells) - 1)


def _probe(
    client: Any, probe: Callable[..., Any], deadline: float, watchdog: Any
) -> tuple[Any, str | None]:
    """Run the probe with an ``execute`` that asks the kernel one expression at a time."""

    def execute(expression: str, limit: float) -> str:
        left = deadline - time.monotonic()
        if left < 1 or (watchdog is not None and watchdog.tripped):
            raise KernelLostError(hints_grade.LOST_OUT_OF_TIME)
        wait = min(limit + _CALL_MARGIN_S, left)
        try:
            reply = run_sync(client.kc.execute_interactive)(
                "",
                store_history=False,
                user_expressions={"r": expression},
                timeout=wait,
                output_hook=_dropped,
                allow_stdin=False,
            )
        except TimeoutError:
            raise KernelLostError(hints_grade.LOST_NO_ANSWER.format(seconds=wait)) from None
        except Exception as error:  # the kernel died: its channels fail
            raise KernelLostError(f"{type(error).__name__}: {error}"[:_MAX_DETAIL]) from None
        result = reply.get("content", {}).get("user_expressions", {}).get("r", {})
        if not isinstance(result, dict) or result.get("status") != "ok":
            return ""
        text = result.get("data", {}).get("text/plain", "")
        return text if isinstance(text, str) else ""

    try:
        return probe(execute), None
    except KernelLostError as error:
        return None, str(error)


def _dropped(message: Any) -> None:
    """Output printed during the probes is not kept."""
