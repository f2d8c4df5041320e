"""Each graded notebook's kernel in its own bubblewrap sandbox, with limits.

:func:`kernel_manager` gives a Jupyter kernel manager whose kernel starts inside ``bwrap``
(bubblewrap, the sandbox Flatpak uses: Linux namespaces, no home-made jail):

* its own mount namespace: ``/usr`` and the Python installation read-only, a fresh ``/tmp``
  (tmpfs), ``/proc``, a minimal ``/dev``, and one writable folder, the notebook's private
  scratch folder (its working directory; the submissions folder and ``--out`` are not there);
* its own, empty network namespace (no network at all: the kernel's channels are unix sockets,
  ``transport="ipc"``, in a second private folder);
* its own PID namespace: when the sandbox ends, everything the notebook started ends with it
  (also when the grader is killed, ``--die-with-parent``); its own user namespace (uid 1000),
  no capabilities, a new session (no terminal);
* resource limits set before the kernel starts (memory as data size, ``RLIMIT_DATA``; CPU
  seconds; size of each file written), and a watchdog that ends the sandbox when it holds more
  processes than allowed.

:func:`unavailable` says why a sandbox cannot be made here (no ``bwrap``, no user namespaces,
not Linux), in one line.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple

from jupyter_client.manager import AsyncKernelManager

from dl_workshop.compilation.cache import cache_enabled, cache_folder

__all__ = ["Limits", "kernel_manager", "sandbox_command", "unavailable"]

#: Where a missing bwrap comes from.
INSTALL = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap)"
)


class Limits(NamedTuple):
    """Per-notebook limits (``dl-workshop grade`` options)."""

    # Data (heap and private mappings, RLIMIT_DATA) of each process of the kernel. Not the
    # address space: XLA reserves ~1.5 GB of it at import, so RLIMIT_AS would leave too little.
    memory_bytes: int = 2 * 2**30
    cpu_seconds: int = 600  # CPU time of each process
    wall_seconds: float = 600.0  # the whole notebook, cells and checks
    output_bytes: int = 1_000_000  # outputs kept (the rest dropped with a note)
    processes: int = 64  # processes in the sandbox at once
    file_bytes: int = 256 * 2**20  # size of each file written


#: The launcher run inside the sandbox: set the limits, then become the kernel.
_LIMITS_CODE = (
    "import os, resource, sys\n"
    "m, c, f = (int(v) for v in sys.argv[1:4])\n"
    "resource.setrlimit(resource.RLIMIT_DATA, (m, m))\n"
    "resource.setrlimit(resource.RLIMIT_CPU, (c, c + 5))\n"
    "resource.setrlimit(resource.RLIMIT_FSIZE, (f, f))\n"
    "os.execv(sys.argv[4], sys.argv[4:])\n"
)

#: Environment variables the kernel inherits (nothing else: no tokens, no paths to the grader).
_KEPT_ENV = ("LANG", "LC_ALL", "TZ", "XLA_FLAGS", "OMP_NUM_THREADS")


def unavailable() -> str | None:
    """Why a sandbox cannot be made here, in one line; ``None`` when it can."""
    if not sys.platform.startswith("linux"):
        return f"the sandbox needs Linux namespaces (this is {sys.platform})"
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return f"bwrap (bubblewrap) is not installed: {INSTALL}"
    trial = [bwrap, *_namespaces(), "--ro-bind", "/", "/", "--", "/bin/true"]
    try:
        done = subprocess.run(trial, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap could not run: {error}"
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return f"bwrap cannot create namespaces here ({reason}); user namespaces may be disabled"
    return None


def _namespaces() -> list[str]:
    return [
        "--unshare-all",
        "--unshare-user",
        "--uid",
        "1000",
        "--gid",
        "1000",
        "--cap-drop",
        "ALL",
        "--die-with-parent",
        "--new-session",
    ]


def _python_roots() -> list[str]:
    """Folders the kernel's Python needs, read-only: the installation, the environment and
    this package's own folder (a source checkout on PYTHONPATH, or site-packages)."""
    package = Path(__file__).resolve().parents[3]  # src/ (dl_workshop/teaching/checks/)
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(package)}
    paths |= {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths.add(str(Path(sys.executable).resolve().parent.parent))
    existing = sorted(p for p in paths if p and os.path.isdir(p))
    # A folder inside another one is already bound.
    return [p for p in existing if not any(p != q and p.startswith(q + os.sep) for q in existing)]


def sandbox_command(kernel_cmd: list[str], work: Path, run: Path, limits: Limits) -> list[str]:
    """``kernel_cmd`` wrapped in ``bwrap`` (see the module's docstring for the view)."""
    bwrap = shutil.which("bwrap") or "bwrap"
    view = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "lib", "lib64", "lib32", "sbin"):
        link = Path("/") / name
        if link.is_symlink():
            view += ["--symlink", os.readlink(link), str(link)]
        elif link.is_dir():
            view += ["--ro-bind", str(link), str(link)]
    for path in ("/etc/ssl", "/etc/ca-certificates", "/etc/localtime", "/etc/fonts"):
        if os.path.exists(path):
            view += ["--ro-bind", path, path]
    # The fresh /tmp first: a virtual environment or a checkout under /tmp is bound over it.
    view += ["--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev"]
    for root in _python_roots():
        if not root.startswith("/usr/"):
            view += ["--ro-bind", root, root]
    view += ["--bind", str(work), str(work), "--bind", str(run), str(run), "--chdir", str(work)]
    view += _caches(work.parent)
    env = ["--clearenv"]
    for key, value in _kernel_env(work).items():
        env += ["--setenv", key, value]
    numbers = [str(limits.memory_bytes), str(int(limits.cpu_seconds)), str(limits.file_bytes)]
    launcher = [sys.executable, "-I", "-S", "-c", _LIMITS_CODE, *numbers]
    return [bwrap, *_namespaces(), *view, *env, "--", *launcher, *kernel_cmd]


#: Where the kernel finds its own Matplotlib folder (a private copy of the grader's font list).
#: The grader's JAX compilation cache is bound read-only at its own path: JAX's cache keys hold
#: that path (its XLA caches live under it), so another path would miss every entry.
_MPL_CONFIG = "/tmp/matplotlib"


def _caches(scratch: Path) -> list[str]:
    """Binds that spare each kernel work done before: the library's JAX compilation cache,
    read-only (compiled programs are read, never written: no notebook can plant one for the
    next), and a private Matplotlib folder holding a copy of the grader's font list (else
    Matplotlib rebuilds it, a second or more per notebook)."""
    binds = []
    if cache_enabled() and os.path.isdir(cache_folder()):
        binds += ["--ro-bind", cache_folder(), cache_folder()]
    mpl = scratch / "matplotlib"
    mpl.mkdir(exist_ok=True)
    source = Path(os.environ.get("MPLCONFIGDIR") or Path.home() / ".cache" / "matplotlib")
    for fontlist in source.glob("fontlist-*.json") if source.is_dir() else []:
        if fontlist.is_file() and fontlist.stat().st_size < _MAX_FONTLIST_BYTES:
            shutil.copyfile(fontlist, mpl / fontlist.name)
    return [*binds, "--bind", str(mpl), _MPL_CONFIG]


_MAX_FONTLIST_BYTES = 16 * 2**20


def _kernel_env(work: Path) -> dict[str, str]:
    package = str(Path(__file__).resolve().parents[3])
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "PYTHONPATH": package,
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": _MPL_CONFIG,
        # JAX's cache configured directly, without eviction: eviction takes a lock file in
        # the folder, which a read-only folder refuses (every read would miss).
        "JAX_COMPILATION_CACHE_DIR": cache_folder(),
        "DL_WORKSHOP_CACHE_DIR": cache_folder(),  # the library's executables, beside JAX's
        "JAX_COMPILATION_CACHE_MAX_SIZE": "-1",
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
        "IPYTHONDIR": "/tmp/ipython",
        "JUPYTER_RUNTIME_DIR": "/tmp/jupyter",
        "JAX_PLATFORMS": "cpu",
        "PYTHONDONTWRITEBYTECODE": "1",
        # "Launched by a client": no console notice, and no parent poller (the kernel's parent
        # in the sandbox is its init, pid 1; the sandbox ends with the grader anyway).
        "JPY_PARENT_PID": "1",
    }
    env.update({key: os.environ[key] for key in _KEPT_ENV if key in os.environ})
    env.update({k: v for k, v in os.environ.items() if k.startswith("JAX_") and "CACHE" not in k})
    if not (cache_enabled() and os.path.isdir(cache_folder())):
        for key in [key for key in env if "CACHE" in key or key == "DL_WORKSHOP_CACHE_DIR"]:
            del env[key]
    env["JAX_PLATFORMS"] = "cpu"
    return env


class _SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel starts in the sandbox; interrupts go as messages (a
    signal to ``bwrap`` would not reach the kernel)."""

    sandbox: Any = None  # (work, run, limits), set by kernel_manager

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        command = super().format_kernel_cmd(extra_arguments)
        if self.sandbox is None:
            return command
        work, run, limits = self.sandbox
        return sandbox_command(command, work, run, limits)

    async def _async_pre_start_kernel(self, **kw: Any) -> Any:
        result = await super()._async_pre_start_kernel(**kw)
        if self.sandbox is not None:
            self.kernel_spec.interrupt_mode = "message"
        return result


def kernel_manager(work: Path, run: Path, limits: Limits, *, sandboxed: bool) -> Any:
    """A kernel manager for one notebook: unix-socket channels in ``run``, the kernel's working
    directory ``work``, inside the sandbox when ``sandboxed``."""
    manager = _SandboxedKernelManager(kernel_name="python3", transport="ipc", ip=str(run / "k"))
    manager.connection_file = str(run / "kernel.json")
    manager.sandbox = (work, run, limits) if sandboxed else None
    return manager


def kernel_pid(manager: Any) -> int | None:
    """The process the manager started (``bwrap`` when sandboxed), if any."""
    provisioner = getattr(manager, "provisioner", None)
    process = getattr(provisioner, "process", None)
    return getattr(process, "pid", None)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from ``/proc``'s children lists)."""
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children", encoding="ascii") as file:
                    children = [int(c) for c in file.read().split()]
            except OSError:
                continue
            found += children
            queue += children
    return found


def kill_tree(pid: int | None) -> None:
    """End ``pid`` and everything below it (the sandbox's PID namespace ends with ``bwrap``)."""
    if pid is None:
        return
    for child in [*descendants(pid), pid]:
        with contextlib.suppress(OSError):
            os.kill(child, signal.SIGKILL)


class Watchdog:
    """Ends the sandbox below ``pid`` when it holds more than ``limit`` processes (checked
    every ``period`` seconds, in a thread); ``tripped`` says whether it did."""

    def __init__(self, pid: int, limit: int, period: float = 0.25) -> None:
        self.pid, self.limit, self.period = pid, limit, period
        self.tripped = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.period):
            if len(descendants(self.pid)) > self.limit:
                self.tripped = True
                kill_tree(self.pid)
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def wait_gone(pids: list[int], seconds: float = 5.0) -> bool:
    """Whether every process in ``pids`` is gone within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(os.path.exists(f"/proc/{pid}") for pid in pids):
            return True
        time.sleep(0.05)
    return False
