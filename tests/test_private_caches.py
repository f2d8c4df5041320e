"""The compile caches cannot be turned against their user: every folder they make is private
(0700) whichever entry point makes it, a folder another user owns or can write to is not touched
at all (a warning says why and how to fix it), and an entry that does not fit its call (moved
under another key, another tree or shapes, or naming code to run) is compiled anew."""

import json
import os
import pickle
import shutil
import site
import stat
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import jax
import numpy as np
import pytest

from dl_workshop.compilation import cache as _compile_cache
from dl_workshop.compilation import executables as _executables

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
NOBODY = 65534


def _env(**extra):
    env = {**os.environ, "PYTHONPATH": str(SRC), "JAX_PLATFORMS": "cpu", **extra}
    for name in ("DL_WORKSHOP_CACHE_DIR", "DL_WORKSHOP_NO_COMPILE_CACHE",
                 "JAX_COMPILATION_CACHE_DIR"):
        if name not in extra:
            env.pop(name, None)
    return env


def _run(code, env, argv=(), timeout=240, prefix=()):
    done = subprocess.run([*prefix, *argv[:1], "-c", code, *argv[1:]], env=env, timeout=timeout,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


ENTRY_POINTS = {
    "fit": "from dl_workshop import fit, linear_model, mseloss\n"
           "from dl_workshop.lesson.data import x, make_y\n"
           "fit({'w': 0.0, 'b': 0.0}, linear_model, mseloss, x, make_y(x, seed=0), 50, 0.01,"
           " progress=False)",
    "lesson loop": "from dl_workshop import model_optimization_loop, linear_model, mseloss\n"
                   "from dl_workshop.lesson.data import x, make_y\n"
                   "model_optimization_loop({'w': 0.0, 'b': 0.0}, linear_model, mseloss, x,"
                   " make_y(x, seed=0), 50, 0.01, progress=False)",
    "estimator": "import numpy as np\n"
                 "from dl_workshop.estimator import GradientDescentRegressor\n"
                 "X = np.arange(20.0).reshape(10, 2)\n"
                 "GradientDescentRegressor().fit(X, X @ [1.0, 2.0])",
    # The command line turns the cache on before anything else (here: a model that is missing).
    "command line": "import sys\nfrom dl_workshop.cli import main\n"
                    "assert main(['predict', 'missing.npz', sys.argv[1]]) == 1",
}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_every_cache_folder_is_private_whichever_entry_point_makes_it(tmp_path, entry):
    data = tmp_path / "data.csv"
    data.write_text("a,y\n" + "".join(f"{i},{2 * i + 1}\n" for i in range(10)))
    code = "import os\nos.umask(0o022)\n" + ENTRY_POINTS[entry]
    cache = tmp_path / "xdg"
    _run(code, _env(XDG_CACHE_HOME=str(cache), HOME=str(tmp_path)),
         argv=[sys.executable, str(data)])
    made = [cache, cache / "dl-workshop", cache / "dl-workshop" / "jax",
            cache / "dl-workshop" / "jax" / "executables"]
    if entry == "command line":
        made.pop()  # nothing compiled
    modes = {str(p.relative_to(tmp_path)): oct(p.stat().st_mode & 0o777) for p in made}
    assert modes == dict.fromkeys(modes, "0o700")


# --- folders that are not the user's own -----------------------------------------------------


class _Canary:
    """Unpickled, it makes a folder: proof that the entry was read and its code run."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path,)


def _plant(folder, key, canary):
    (folder / "executables").mkdir(exist_ok=True)
    (folder / "executables" / f"{key}.bin").write_bytes(pickle.dumps(_Canary(str(canary))))


def _snapshot(folder):
    return {str(p): (p.stat().st_mode, p.stat().st_uid, p.stat().st_mtime_ns,
                     p.read_bytes() if p.is_file() else None)
            for p in [folder, *sorted(folder.rglob("*"))]}


DOUBLE = jax.jit(lambda v, n: v * n, static_argnames="n")
ARGS = (np.arange(3.0),)


def _program(offset):
    """``v * n + offset``: a program of its own for each test that keeps one (an executable
    compiled earlier in the process comes from memory uncompiled, and is not kept)."""
    return jax.jit(lambda v, n: v * n + offset, static_argnames="n")


def _decoy(tree, n):
    """Not what any kept program computes: a call that returns this compiled it anew."""
    return jax.tree_util.tree_leaves(tree)[0] * 0.0 - 100.0


#: Called in place of a kept program's own function: its result tells whether the program
#: came from the folder (the kept program's result) or was compiled now (``-100``).
DECOY = jax.jit(_decoy, static_argnames="n")


@pytest.fixture
def fresh_cache():
    """No executable held in memory, and JAX's persistent cache (which this process may have
    turned on) out of the way: a program it loaded is never kept in the folder (restored
    afterwards). The folder is given to each call (``folder=``)."""
    saved = jax.config.jax_compilation_cache_dir
    jax.config.update("jax_compilation_cache_dir", None)
    _executables.clear_in_memory()
    yield
    _executables.clear_in_memory()
    jax.config.update("jax_compilation_cache_dir", saved)


def _make_unsafe(folder, how):
    if how == "world-writable":
        folder.chmod(0o777)
    elif how == "group-writable":
        folder.chmod(0o770)
    elif how == "another user's":
        if os.geteuid() != 0:
            pytest.skip("needs root to give a folder to another user")
        os.chown(folder, NOBODY, NOBODY)
    elif how == "another user's executables":
        if os.geteuid() != 0:
            pytest.skip("needs root to give a folder to another user")
        os.chown(folder / "executables", NOBODY, NOBODY)


@pytest.mark.parametrize(
    "how", ["world-writable", "group-writable", "another user's", "another user's executables"]
)
def test_a_cache_folder_that_is_not_private_is_not_touched(tmp_path, fresh_cache, how):
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o700)
    canary = tmp_path / "canary"
    key = _executables.call_key("test unsafe", ARGS, {"n": 2})
    _plant(folder, key, canary)
    _make_unsafe(folder, how)
    before = _snapshot(folder)
    unsafe = folder / "executables" if how.endswith("executables") else folder
    with pytest.warns(UserWarning, match=rf"not using the cache folder '{unsafe}': it .*chmod "
                      rf"700 {unsafe}.*DL_WORKSHOP_CACHE_DIR"):
        out = _executables.cached_call(DOUBLE, "test unsafe", ARGS, {"n": 2}, folder=folder)
    np.testing.assert_array_equal(out, [0.0, 2.0, 4.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per process
        _executables.clear_in_memory()
        _executables.cached_call(DOUBLE, "test unsafe", ARGS, {"n": 2}, folder=folder)
    assert not canary.exists()
    assert _snapshot(folder) == before


_UNSAFE_FOLDER = """
import json, warnings, jax
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from dl_workshop import fit, linear_model, mseloss
    from dl_workshop.compilation.cache import enable_compile_cache
    from dl_workshop.lesson.data import x, make_y
    found = enable_compile_cache()
    result = fit({"w": 0.0, "b": 0.0}, linear_model, mseloss, x, make_y(x, seed=0), 50, 0.01,
                 progress=False)
print(json.dumps({"found": found, "jax": jax.config.jax_compilation_cache_dir,
                  "loss": float(result.losses[-1]), "warnings": [str(w.message) for w in caught]}))
"""


def test_a_fit_with_a_cache_folder_others_can_write_runs_uncached_and_warns_once(tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o700)
    folder.chmod(0o777)
    before = _snapshot(folder)
    done = _run(_UNSAFE_FOLDER, _env(DL_WORKSHOP_CACHE_DIR=str(folder)), argv=[sys.executable])
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["found"] is None and report["jax"] is None and np.isfinite(report["loss"])
    unsafe = [w for w in report["warnings"] if "not using the cache folder" in w]
    assert unsafe == [_compile_cache.UNSAFE_FOLDER_MESSAGE.format(
        folder=str(folder), problem="is writable by group or others (mode 0777)")]
    assert _snapshot(folder) == before


def test_an_entry_that_names_code_is_discarded_even_in_a_private_folder(tmp_path, fresh_cache):
    folder = tmp_path / "cache"
    canary = tmp_path / "canary"
    key = _executables.call_key("test canary", ARGS, {"n": 2})
    folder.mkdir(mode=0o700)
    _plant(folder, key, canary)
    out = _executables.cached_call(_program(1.0), "test canary", ARGS, {"n": 2}, folder=folder)
    np.testing.assert_array_equal(out, [1.0, 3.0, 5.0])
    assert not canary.exists()
    _executables.clear_in_memory()  # replaced by a real entry: the kept program runs
    kept = _executables.cached_call(DECOY, "test canary", ARGS, {"n": 2}, folder=folder)
    np.testing.assert_array_equal(kept, [1.0, 3.0, 5.0])


def test_an_entry_file_others_can_write_is_not_read(tmp_path, fresh_cache):
    key = _executables.call_key("test entry mode", ARGS, {"n": 2})
    _executables.cached_call(_program(2.0), "test entry mode", ARGS, {"n": 2}, folder=tmp_path)
    entry = tmp_path / "executables" / f"{key}.bin"
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    _executables.clear_in_memory()  # a private entry is read: the kept program runs
    kept = _executables.cached_call(DECOY, "test entry mode", ARGS, {"n": 2}, folder=tmp_path)
    np.testing.assert_array_equal(kept, [2.0, 4.0, 6.0])
    entry.chmod(0o666)
    _executables.clear_in_memory()  # refused: compiled anew (and written private again)
    out = _executables.cached_call(DECOY, "test entry mode", ARGS, {"n": 2}, folder=tmp_path)
    np.testing.assert_array_equal(out, [-100.0, -100.0, -100.0])
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600


def test_entries_swapped_between_keys_fall_back_to_the_uncached_results(tmp_path, fresh_cache):
    calls = {  # name -> (function, args): same shapes, other shapes, another tree
        "test swap double": (_program(3.0), (np.arange(3.0),)),
        "test swap triple": (_program(4.0), (np.arange(3.0),)),
        "test swap long": (_program(3.0), (np.arange(5.0),)),
        "test swap tree": (jax.jit(lambda t, n: t["v"] * n + 5.0, static_argnames="n"),
                           ({"v": np.arange(3.0)},)),
    }
    expected = {"test swap double": np.arange(3.0) * 3 + 3.0,
                "test swap triple": np.arange(3.0) * 3 + 4.0,
                "test swap long": np.arange(5.0) * 3 + 3.0,
                "test swap tree": np.arange(3.0) * 3 + 5.0}
    keys = {name: _executables.call_key(name, args, {"n": 3}) for name, (_, args) in
            calls.items()}
    for name, (f, args) in calls.items():
        _executables.cached_call(f, name, args, {"n": 3}, folder=tmp_path)
    entries = {name: (tmp_path / "executables" / f"{keys[name]}.bin").read_bytes()
               for name in calls}
    names = list(calls)
    for name, other in zip(names, names[1:] + names[:1], strict=True):  # each under another key
        (tmp_path / "executables" / f"{keys[name]}.bin").write_bytes(entries[other])
    _executables.clear_in_memory()
    for name, (f, args) in calls.items():
        out = _executables.cached_call(f, name, args, {"n": 3}, folder=tmp_path)
        np.testing.assert_array_equal(out, expected[name])
    # Each swapped entry was refused (by its tree and shapes, or by the key stored inside it)
    # and deleted; the programs compiled again came from memory, and are not kept again.
    assert not any((tmp_path / "executables").glob("*.bin"))


# --- run as another user: a folder root owns and anyone can write ----------------------------

_KEY = """
import jax, numpy as np, sklearn
from dl_workshop.compilation import executables as _executables
print(_executables.call_key("test nobody", (np.arange(3.0),), {"n": 2}))
"""

_VICTIM = """
import json, warnings, jax, numpy as np
from dl_workshop import fit, linear_model, mseloss
from dl_workshop.compilation import executables as _executables
from dl_workshop.lesson.data import x, make_y
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    double = jax.jit(lambda v, n: v * n, static_argnames="n")
    out = _executables.cached_call(double, "test nobody", (np.arange(3.0),), {"n": 2})
    result = fit({"w": 0.0, "b": 0.0}, linear_model, mseloss, x, make_y(x, seed=0), 50, 0.01,
                 progress=False)
print(json.dumps({"out": out.tolist(), "loss": float(result.losses[-1]),
                  "warnings": [str(w.message) for w in caught]}))
"""


def _as_nobody(env_extra):
    """The command prefix, Python, environment and the output of :data:`_KEY` that run this
    project's Python as user 65534."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run a process as another user")
    prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    path = os.pathsep.join([str(SRC), *site.getsitepackages()])
    for python in (sys.executable, shutil.which("python3"), shutil.which("python3.11")):
        if python is None:
            continue
        env = _env(PYTHONPATH=path, HOME="/tmp", XDG_CACHE_HOME="/nonexistent", **env_extra)
        probe = subprocess.run([*prefix, python, "-c", _KEY], env=env, capture_output=True,
                               text=True, timeout=120)
        if probe.returncode == 0:
            return prefix, python, env, probe.stdout.strip().splitlines()[-1]
    pytest.skip("no Python with this project's packages that user 65534 can run")


def test_a_folder_root_owns_and_anyone_can_write_is_not_used_by_another_user():
    base = Path(tempfile.mkdtemp(prefix="dl-workshop-nobody-"))
    try:
        base.chmod(0o755)
        folder = base / "shared-cache"
        folder.mkdir()
        folder.chmod(0o777)
        prefix, python, env, key = _as_nobody({"DL_WORKSHOP_CACHE_DIR": str(folder)})
        assert _snapshot(folder) == {str(folder): _snapshot(folder)[str(folder)]}  # untouched
        canary = base / "canary"
        _plant(folder, key, canary)
        os.chmod(folder / "executables", 0o777)
        before = _snapshot(folder)
        done = _run(_VICTIM, env, argv=[python], prefix=prefix)
        report = json.loads(done.stdout.strip().splitlines()[-1])
        assert report["out"] == [0.0, 2.0, 4.0] and np.isfinite(report["loss"])
        unsafe = [w for w in report["warnings"] if "not using the cache folder" in w]
        assert len(unsafe) == 1 and f"'{folder}'" in unsafe[0] and "owned by another user" in (
            unsafe[0])
        assert not canary.exists()
        assert _snapshot(folder) == before
        assert stat.S_IMODE(folder.stat().st_mode) == 0o777  # left as it was
    finally:
        shutil.rmtree(base, ignore_errors=True)


# --- two processes filling one cache at once -------------------------------------------------

_FILL = """
import json, warnings
warnings.simplefilter("error", UserWarning)  # no folder may look unsafe to the other process
from dl_workshop import model_optimization_loop, linear_model, mseloss
from dl_workshop.lesson.data import x, make_y
losses, theta = model_optimization_loop({"w": 0.0, "b": 0.0}, linear_model, mseloss, x,
                                        make_y(x, seed=0), 300, 0.01, progress=False)
print(json.dumps([float(v) for v in losses]))
"""


def test_two_processes_filling_one_cache_at_once_agree(tmp_path):
    folder = tmp_path / "a" / "b"  # both processes make the folders
    env = _env(DL_WORKSHOP_CACHE_DIR=str(folder),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    processes = [subprocess.Popen([sys.executable, "-c", _FILL], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = []
    for process in processes:
        try:
            out, err = process.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            pytest.fail("a process filling the cache ran past 240 s")
        assert process.returncode == 0, err[-3000:]
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    assert outputs[0] == outputs[1]  # (a later process loading them: test_compilation.py)
    assert any((folder / "executables").glob("*.bin"))
    assert not list(folder.rglob("*.tmp"))
    for path in (tmp_path / "a", folder, folder / "executables"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700


_NEW_LOSS_FIT = """
import json, warnings, jax, jax.numpy as jnp
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from dl_workshop import fit, linear_model
    from dl_workshop.lesson.data import x, make_y
    def loss(theta, model, x, y):
        return jnp.mean(jnp.abs(model(theta, x) - y) ** {power})
    fit({{"w": 0.0, "b": 0.0}}, linear_model, loss, x / 100, make_y(x, seed=0) / 100, 20, 1e-3,
        progress=False)
print(json.dumps([str(w.message) for w in caught]))
"""


def test_an_entry_left_half_written_by_a_killed_process_does_not_stop_the_cache(tmp_path):
    """A process killed between JAX's two files of an entry leaves ``KEY-cache`` without
    ``KEY-atime``; JAX 0.10's bounded cache then failed (and warned) on every later write."""
    pytest.importorskip("filelock", reason="JAX bounds its cache only with filelock (test extra)")
    folder = tmp_path / "cache"
    env = _env(DL_WORKSHOP_CACHE_DIR=str(folder))
    _run(_NEW_LOSS_FIT.format(power=2), env, argv=[sys.executable])
    orphans = sorted(folder.glob("*-atime"))
    assert orphans, "the cache is bounded: every entry has an access-time file"
    orphans[0].unlink()  # what a SIGKILL between the two writes leaves
    entries = set(folder.glob("*-cache"))
    done = _run(_NEW_LOSS_FIT.format(power=4), env, argv=[sys.executable])
    warned = [w for w in json.loads(done.stdout.strip().splitlines()[-1]) if "cache" in w]
    assert warned == []
    assert set(folder.glob("*-cache")) > entries  # the new loss's programs were stored
    assert len(list(folder.glob("*-atime"))) == len(list(folder.glob("*-cache")))
    assert _compile_cache.repair_orphans(folder) == 0
