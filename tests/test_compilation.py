"""Compiled code is shared: padded rows change nothing, a new number of rows compiles nothing,
memory stays flat over many fits, and a second process reuses the first one's compilation."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from dl_workshop import fit, fit_objective, linear_model, mseloss
from dl_workshop.compilation import WITHOUT_VARIABLE
from dl_workshop.compilation.loops import MAX_COMPILED_LOOPS, LoopBound
from dl_workshop.engine import runner
from dl_workshop.engine.jaxpr import dots, rows_separate
from dl_workshop.engine.shapecheck import bucket_rows
from dl_workshop.objectives.fastpath import sufficient_statistics
from dl_workshop.objectives.full_batch import (
    FullBatchObjective,
    MaskedMSEObjective,
    masked_mse,
    pad_rows,
)
from dl_workshop.objectives.minibatch import MinibatchObjective

ROOT = Path(__file__).resolve().parents[1]

#: Names of JAX's tracing and compilation events, recorded while ``_EVENTS["on"]``.
_EVENTS = {"on": False, "seen": []}


def _listen(name, duration, **kwargs):
    if _EVENTS["on"] and name.startswith("/jax/core/compile/"):
        _EVENTS["seen"].append(name)


jax.monitoring.register_event_duration_secs_listener(_listen)


def _compile_events(function):
    """The tracing and compilation events of ``function()``."""
    _EVENTS["seen"].clear()
    _EVENTS["on"] = True
    try:
        function()
    finally:
        _EVENTS["on"] = False
    return list(_EVENTS["seen"])


def _data(n, d=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = (x @ rng.standard_normal(d).astype(np.float32) + 0.5).astype(np.float32)
    return x, y + 0.1 * rng.standard_normal(n).astype(np.float32)


def _theta(d=3):
    return {"w": np.zeros(d, np.float32), "b": np.float32(0.0)}


def _user_model(theta, x):
    return x @ theta["w"] + theta["b"]


def _user_loss(theta, model, x, y):
    return jnp.mean((model(theta, x) - y) ** 2)


def test_buckets_pad_a_little_and_share_shapes():
    assert bucket_rows(1) == bucket_rows(16) == 16
    assert {bucket_rows(n) for n in range(65, 129)} == {128}
    for n in (4097, 10_000, 123_457, 1_000_000):
        assert n <= bucket_rows(n) < n * 9 / 8
    assert pad_rows(np.arange(6.0).reshape(3, 2), 5).tolist() == [
        [0, 1], [2, 3], [4, 5], [0, 1], [0, 1]
    ]


@pytest.mark.parametrize("n", [5, 17, 100, 442, 1000])
def test_masked_fit_equals_the_unpadded_objective(n):
    x, y = _data(n, seed=n)
    padded = fit(_theta(), linear_model, mseloss, x, y, 200, 0.1, progress=False,
                 fast_path=False, record_every=50)
    plain = fit_objective(FullBatchObjective(linear_model, mseloss), _theta(), (x, y), 200, 0.1,
                          progress=False, record_every=50)
    np.testing.assert_allclose(padded.losses, plain.losses, rtol=2e-6)
    for key in ("w", "b"):
        np.testing.assert_allclose(padded.theta[key], plain.theta[key], rtol=2e-6, atol=1e-7)
        np.testing.assert_allclose(padded.path[key], plain.path[key], rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("n", [7, 100, 300])
def test_masked_mse_and_its_gradient_equal_mseloss_on_the_real_rows(n):
    x, y = _data(n, d=2, seed=1)
    theta = {"w": jnp.array([0.3, -1.0]), "b": jnp.float32(0.2)}
    rows = bucket_rows(n)
    value, grads = MaskedMSEObjective(linear_model)(
        theta, 0, (pad_rows(x, rows), pad_rows(y, rows), np.int32(n))
    )
    ref_value, ref_grads = jax.value_and_grad(mseloss)(theta, linear_model, x, y)
    np.testing.assert_allclose(value, ref_value, rtol=1e-6)
    for key in theta:
        np.testing.assert_allclose(grads[key], ref_grads[key], rtol=1e-5, atol=1e-7)
    assert float(masked_mse(theta, linear_model, x, y, n)) == pytest.approx(float(ref_value))


@pytest.mark.parametrize("n", [9, 100, 257])
@pytest.mark.parametrize("window", [None, 7])
def test_padded_minibatches_are_the_unpadded_ones(n, window):
    x, y = _data(n, seed=2)
    padded = fit(_theta(), linear_model, mseloss, x, y, 60, 0.05, batch_size=4, seed=3,
                 shuffle_window=window, progress=False)
    objective = MinibatchObjective(linear_model, mseloss, 4, window)
    plain = fit_objective(objective, _theta(), (x, y, np.uint32(3)), 60, 0.05, progress=False)
    np.testing.assert_array_equal(padded.losses, plain.losses)
    np.testing.assert_array_equal(padded.theta["w"], plain.theta["w"])


def test_statistics_of_rows_padded_with_the_first_row_are_unchanged_sums():
    # The shifted sums of the statistics pass use the first row as the shift: copies of it add
    # exact zeros, which is why padding with the first row is what the padding does.
    x, y = _data(50, seed=4)
    shift = x[0]
    padded = pad_rows(x, 64) - shift
    np.testing.assert_array_equal(padded[50:], 0.0)
    stats = sufficient_statistics(x, y)
    assert float(stats.n_rows) == 50


@pytest.mark.parametrize(
    "options",
    [dict(fast_path=False), dict(), dict(batch_size=8)],
    ids=["masked", "fast path", "minibatch"],
)
def test_another_number_of_rows_compiles_nothing(options):
    x, y = _data(100, seed=5)
    fit(_theta(), linear_model, mseloss, x, y, 50, 0.05, progress=False, **options)
    x, y = _data(77, seed=6)  # the same bucket of 128 rows
    events = _compile_events(
        lambda: fit(_theta(), linear_model, mseloss, x, y, 50, 0.05, progress=False, **options)
    )
    assert events == []


def test_an_optax_optimizer_s_state_is_made_in_the_loop_s_one_program():
    import optax

    x, y = _data(300, d=5, seed=9)
    theta = {"w": np.zeros(5, np.float32), "b": np.float32(0.0)}
    adam = optax.adam(0.05)
    events = _compile_events(lambda: fit(theta, linear_model, mseloss, x, y, 64, 1.0,
                                         optimizer=adam, progress=False, fast_path=False))
    assert events.count("/jax/core/compile/backend_compile_duration") == 1
    # The same iterates as optax's own loop from optax's own initial state.
    params = {k: jnp.asarray(v) for k, v in theta.items()}
    state = adam.init(params)
    for _ in range(64):
        grads = jax.grad(mseloss)(params, linear_model, x, y)
        updates, state = adam.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    result = fit(theta, linear_model, mseloss, x, y, 64, 1.0, optimizer=adam, progress=False,
                 fast_path=False)
    np.testing.assert_allclose(result.theta["w"], params["w"], rtol=1e-5, atol=1e-6)


def test_a_model_that_mixes_rows_is_not_padded():
    def cumulative(theta, x):
        return jnp.cumsum(x, axis=0) @ theta["w"] + theta["b"]

    x, y = _data(100, seed=7)
    result = fit(_theta(), cumulative, mseloss, x, y, 100, 0.001, progress=False)
    plain = fit_objective(FullBatchObjective(cumulative, mseloss), _theta(), (x, y), 100, 0.001,
                          progress=False)
    np.testing.assert_array_equal(result.losses, plain.losses)


def test_a_model_that_meets_other_rows_only_in_means_is_padded_exactly():
    def centred(theta, x):
        return (x - x.mean(0)) @ theta["w"] + theta["b"]

    x, y = _data(100, seed=7)
    plain = fit_objective(FullBatchObjective(centred, mseloss), _theta(), (x, y), 100, 0.1,
                          progress=False, record_every=20)
    # The padded fit last before the check: compiling another loop in between could drop it
    # from the bounded set of compiled loops (MAX_COMPILED_LOOPS) in a long test session.
    result = fit(_theta(), centred, mseloss, x, y, 100, 0.1, progress=False, record_every=20)
    np.testing.assert_allclose(result.losses, plain.losses, rtol=2e-6)
    np.testing.assert_allclose(result.theta["w"], plain.theta["w"], rtol=2e-6, atol=1e-7)
    x, y = _data(77, seed=8)  # the same bucket of 128 rows: nothing compiled again
    events = _compile_events(lambda: fit(_theta(), centred, mseloss, x, y, 100, 0.1,
                                         progress=False, record_every=20))
    assert "/jax/core/compile/backend_compile_duration" not in events


def test_rows_separate_reads_the_model():
    x, x1 = jnp.ones((104, 3)), jnp.ones(104)
    w = jnp.ones(3)
    assert rows_separate(linear_model, {"w": w, "b": 0.0}, x)
    assert rows_separate(linear_model, {"w": 1.0, "b": 0.0}, x1)
    assert rows_separate(lambda p, x: jnp.tanh(x @ p) + jnp.arange(x.shape[0]), w, x)
    assert rows_separate(lambda p, x: jax.nn.softmax(x * p, axis=1), w, x)
    assert rows_separate(lambda p, x: jnp.polyval(p, x), w, x1)
    assert rows_separate(lambda p, x: lax.fori_loop(0, 3, lambda i, c: c * p + x, x), 1.0, x1)
    assert not rows_separate(lambda p, x: (x - x.mean(0)) @ p, w, x)
    assert not rows_separate(lambda p, x: (x + x.sum(0)) @ p, w, x)
    assert not rows_separate(lambda p, x: x @ p / x.shape[0], w, x)
    assert not rows_separate(lambda p, x: jnp.cumsum(x @ p), w, x)
    assert not rows_separate(lambda p, x: jnp.sort(x @ p), w, x)
    assert not rows_separate(lambda p, x: x * x[0] @ p, w, x)
    assert not rows_separate(lambda p, x: x @ p["w"] + p["b"], {"w": w, "b": jnp.zeros(104)}, x)
    assert not rows_separate(
        lambda p, x: lax.while_loop(lambda c: c.sum() < 10, lambda c: c * p, x), 2.0, x1
    )


def test_blocked_row_products_give_the_same_objective():
    x, y = _data(dots.MIN_ROWS + 1000, d=16, seed=8)  # enough rows for a blocked product
    theta = {"w": jnp.linspace(-1.0, 1.0, 16), "b": jnp.float32(0.3)}

    def objective(params, t, data):
        return jax.value_and_grad(_user_loss)(params, _user_model, *data)

    plain = jax.jit(objective)(theta, 0, (x, y))
    blocked = jax.jit(dots.fused_row_products(objective))(theta, 0, (x, y))
    plain_text = str(jax.make_jaxpr(objective)(theta, 0, (x, y)))
    text = str(jax.make_jaxpr(dots.fused_row_products(objective))(theta, 0, (x, y)))
    contracts_rows = "(([0], [0]), ([], []))"  # the transposed product xᵀ r
    assert contracts_rows in plain_text and contracts_rows not in text
    assert "reduce_sum[axes=(0,)" in text  # ... written as a multiply-and-sum over the rows,
    assert "(([1], [1]), ([0], [0]))" not in text  # not as a batch of products over blocks
    np.testing.assert_allclose(blocked[0], plain[0], rtol=1e-6)
    np.testing.assert_allclose(blocked[1]["w"], plain[1]["w"], rtol=1e-5, atol=1e-6)


def test_a_fit_of_a_users_model_on_many_rows_uses_blocked_products(monkeypatch):
    x, y = _data(dots.MIN_ROWS + 1000, d=16, seed=9)
    blocked = fit(_theta(16), _user_model, _user_loss, x, y, 30, 0.1, progress=False)
    monkeypatch.setenv(WITHOUT_VARIABLE, "fused-dots")  # the A/B switch: plain products
    events = _compile_events(
        lambda: fit(_theta(16), _user_model, _user_loss, x, y, 30, 0.1, progress=False)
    )
    plain = fit(_theta(16), _user_model, _user_loss, x, y, 30, 0.1, progress=False)
    # The switch made another program: the first fit's loop was the blocked one.
    assert "/jax/core/compile/jaxpr_to_mlir_module_duration" in events
    np.testing.assert_allclose(blocked.losses, plain.losses, rtol=1e-5)
    np.testing.assert_allclose(blocked.theta["w"], plain.theta["w"], rtol=1e-4, atol=1e-6)


def _rss_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux's /proc")
def test_memory_stays_flat_over_many_fits_of_varying_size():
    rng = np.random.default_rng(10)
    sizes = rng.integers(30, 500, size=300)
    for n in (30, 64, 128, 256, 500):  # compile each bucket's loop once
        x = rng.standard_normal(n).astype(np.float32)
        fit({"w": 0.0, "b": 0.0}, linear_model, mseloss, x, 2 * x, 20, 0.1, progress=False,
            fast_path=False)
    before = _rss_mb()
    for n in sizes:
        x = rng.standard_normal(n).astype(np.float32)
        fit({"w": 0.0, "b": 0.0}, linear_model, mseloss, x, 2 * x + 1, 20, 0.1, progress=False,
            fast_path=False)
    assert _rss_mb() - before < 50  # before padding: ~5 MB for every new number of rows


def test_a_loop_bound_drops_the_compiled_loops_beyond_its_limit():
    double = jax.jit(lambda x: 2 * x)
    bound = LoopBound(double.clear_cache, limit=2)
    for n in (1, 2, 1):
        bound.keep(n)
        double(np.zeros(n))
    assert _compile_events(lambda: double(np.zeros(1))) == []  # kept
    bound.keep(3)  # one too many: every compiled loop is dropped first
    assert bound.kept == {3}
    assert "/jax/core/compile/backend_compile_duration" in _compile_events(
        lambda: double(np.zeros(1))
    )


def test_the_runner_bounds_its_compiled_loops(monkeypatch):
    def median_loss(theta, model, x, y):  # not a mean over rows: never padded
        return jnp.median((model(theta, x) - y) ** 2)

    def fits(sizes):
        for n in sizes:  # each number of rows is a loop of its own
            x, y = _data(n, seed=n)
            fit(_theta(), _user_model, median_loss, x, y, 5, 0.1, progress=False)

    fits((21, 22))
    assert runner._loops.limit == MAX_COMPILED_LOOPS
    assert 1 <= len(runner._loops.kept) <= MAX_COMPILED_LOOPS
    kept = set(runner._loops.kept)
    monkeypatch.setenv(WITHOUT_VARIABLE, "loop_bound")  # the A/B switch: nothing noted
    fits((23,))
    assert runner._loops.kept == kept


_ENABLE = """
import json, sys
from pathlib import Path
import jax, numpy as np
from dl_workshop.cli import main
from dl_workshop.compilation.cache import cache_folder, enable_compile_cache
from dl_workshop.compilation.executables import cached_call
if sys.argv[1] == "command line":  # turns the caches off before anything else (no model here)
    assert main(["--no-compile-cache", "predict", "missing.npz", "missing.csv"]) == 1
found = enable_compile_cache()
cached_call(jax.jit(lambda v: v * 3.0), "test enable", (np.arange(2.0),))
kept = Path(cache_folder(), "executables")
print(json.dumps({"found": found, "jax": jax.config.jax_compilation_cache_dir,
                  "kept": len(list(kept.glob("*.bin"))) if kept.is_dir() else None}))
"""


def _enable_in_a_fresh_process(tmp_path, case, **env):
    """What a new process started with ``env`` finds: ``enable_compile_cache()``'s folder (after
    the command line's ``--no-compile-cache`` for ``case="command line"``), the folder JAX was
    given, and how many executables a call of the library's kind keeps (``None``: no folder)."""
    unset = ("DL_WORKSHOP_CACHE_DIR", "DL_WORKSHOP_NO_COMPILE_CACHE", "JAX_COMPILATION_CACHE_DIR")
    env = {**{k: v for k, v in os.environ.items() if k not in unset}, "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": str(ROOT / "src"), "HOME": str(tmp_path / "home"),
           "XDG_CACHE_HOME": str(tmp_path / "xdg"), **env}
    done = subprocess.run([sys.executable, "-c", _ENABLE, case], env=env, capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_enable_compile_cache_respects_opt_out_and_a_users_folder(tmp_path):
    def folder(name):
        return {"DL_WORKSHOP_CACHE_DIR": str(tmp_path / name)}

    opted_out = _enable_in_a_fresh_process(tmp_path, "-", **folder("opted out"),
                                           DL_WORKSHOP_NO_COMPILE_CACHE="1")
    assert opted_out == {"found": None, "jax": None, "kept": None}
    # The command line's opt-out stays for the process, and turns the executables off too.
    refused = _enable_in_a_fresh_process(tmp_path, "command line", **folder("refused"))
    assert refused == {"found": None, "jax": None, "kept": None}
    assert not (tmp_path / "opted out").exists() and not (tmp_path / "refused").exists()
    users = str(tmp_path / "users")
    users_own = _enable_in_a_fresh_process(tmp_path, "-", **folder("ours"),
                                           JAX_COMPILATION_CACHE_DIR=users)
    assert users_own == {"found": users, "jax": users, "kept": 1}  # used as it is
    # (the default folder, under $XDG_CACHE_HOME: test_private_caches.py)
    ours = str(tmp_path / "ours2")
    assert _enable_in_a_fresh_process(tmp_path, "-", **folder("ours2")) == {
        "found": ours, "jax": ours, "kept": 1
    }


_SECOND_PROCESS = """
import json, logging, jax
hits, events = [], []
jax.monitoring.register_event_listener(
    lambda name, **kw: hits.append(name) if name.endswith("cache_hits") else None)


class Log(logging.Handler):
    def emit(self, record):
        message = record.getMessage()
        if "_run_chunk_impl" in message and ("tracing" in message or "compilation" in message):
            events.append(message)


logging.getLogger("jax").addHandler(Log())
jax.config.update("jax_log_compiles", True)
from dl_workshop import linear_model, mseloss, model_optimization_loop
from dl_workshop.lesson.data import make_y, x
lesson = model_optimization_loop({"w": 0.0, "b": 0.0}, linear_model, mseloss, x,
                                 make_y(x, seed=0), 300, 0.01, progress=False)
library = {"events": len(events), "hits": len(hits)}
events.clear(), hits.clear()


def users_model(theta, x):  # not the library's: no name that holds in every process
    return theta["w"] * x + theta["b"]


mine = model_optimization_loop({"w": 0.0, "b": 0.0}, users_model, mseloss, x,
                               make_y(x, seed=0), 300, 0.01, progress=False)
print(json.dumps({"library": library, "user": {"events": len(events), "hits": len(hits)},
                  "losses": [list(map(float, lesson[0])), list(map(float, mine[0]))]}))
"""


def test_a_second_process_reuses_the_compiled_loop(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "DL_WORKSHOP_CACHE_DIR": str(tmp_path),
           # Kept however fast this machine compiles (a threshold the user sets is respected).
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    env.pop("DL_WORKSHOP_NO_COMPILE_CACHE", None)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)

    def run():
        done = subprocess.run([sys.executable, "-c", _SECOND_PROCESS], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    first = run()
    assert first["library"]["events"] >= 2 and first["user"]["events"] >= 2  # traced, compiled
    assert any((tmp_path / "executables").glob("*.bin"))
    second = run()
    # The library's loop comes whole from the executable cache: not traced, not compiled.
    assert second["library"] == {"events": 0, "hits": 0}
    # A user's model is traced again; its compilation comes from JAX's persistent cache.
    assert second["user"]["hits"] >= 1
    assert second["user"]["events"] >= 1
    np.testing.assert_array_equal(second["losses"][0], first["losses"][0])
    np.testing.assert_array_equal(second["losses"][1], first["losses"][1])


def test_a_broken_executable_entry_is_compiled_again(tmp_path):
    from dl_workshop.compilation import executables as _executables

    _executables.clear_in_memory()
    double = jax.jit(lambda v, n: v * n + 0.5, static_argnames="n")
    args = (np.arange(3.0),)
    key = _executables.call_key("test double", args, {"n": 2})
    (tmp_path / "executables").mkdir(mode=0o700)
    (tmp_path / "executables" / f"{key}.bin").write_bytes(b"not an executable")
    out = _executables.cached_call(double, "test double", args, {"n": 2}, folder=tmp_path)
    np.testing.assert_array_equal(out, [0.5, 2.5, 4.5])
    assert (tmp_path / "executables" / f"{key}.bin").read_bytes() != b"not an executable"
    # The broken entry was replaced by a loadable one: a call of the same name, arguments and
    # static arguments runs the kept program, not the (other) function it is given.
    _executables.clear_in_memory()
    other = jax.jit(lambda v, n: v - n, static_argnames="n")
    kept = _executables.cached_call(other, "test double", args, {"n": 2}, folder=tmp_path)
    np.testing.assert_array_equal(kept, [0.5, 2.5, 4.5])
    _executables.clear_in_memory()


_FROM_JAXS_CACHE = """
import sys, jax, numpy as np
from dl_workshop.compilation import executables
from dl_workshop.compilation.cache import enable_compile_cache
assert enable_compile_cache()
double = jax.jit(lambda v, n: v * n, static_argnames="n")
tree = jax.jit(lambda t, n: t["v"] * n, static_argnames="n")  # the same program as double's
args = ({"v": np.arange(3.0)},)
double(args[0]["v"], n=3), tree(*args, n=3)  # the second loaded from JAX's persistent cache
for _ in range(2):  # (then from the executable cache, had it kept that one)
    print(executables.cached_call(tree, "test from JAX's cache", args, {"n": 3}).tolist())
    executables.clear_in_memory()
"""


def test_a_program_jaxs_cache_loaded_earlier_is_not_kept(tmp_path):
    # Such an executable lacks its kernels on the CPU: kept and loaded again, it would fail.
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "DL_WORKSHOP_CACHE_DIR": str(tmp_path),
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0", "JAX_PLATFORMS": "cpu"}
    env.pop("DL_WORKSHOP_NO_COMPILE_CACHE", None)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    done = subprocess.run([sys.executable, "-c", _FROM_JAXS_CACHE], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["[0.0,", "3.0,", "6.0]"] * 2


def test_calls_with_a_users_function_have_no_key():
    from dl_workshop.compilation import executables as _executables

    def users_loss(theta, model, x, y):
        return 0.0

    assert _executables.stable_name(users_loss) is None
    assert _executables.call_key("f", (np.zeros(2),), {"loss": users_loss}) is None
    assert _executables.call_key("f", (np.zeros(2),), {"loss": mseloss}) is not None
    # Another shape, another dtype, another option: another program.
    keys = {
        _executables.call_key("f", (np.zeros(2),), {"n": 1}),
        _executables.call_key("f", (np.zeros(3),), {"n": 1}),
        _executables.call_key("f", (np.zeros(2, np.int32),), {"n": 1}),
        _executables.call_key("f", (np.zeros(2),), {"n": 2}),
    }
    assert len(keys) == 4


def test_the_estimators_programs_have_names_that_hold_in_every_process():
    from dl_workshop.compilation.executables import stable_name
    from dl_workshop.estimator.optimizers import named_optimizer
    from dl_workshop.estimator.problem import LEAST_SQUARES, objective
    from dl_workshop.objectives.full_batch import FullBatchObjective

    names = {stable_name(named_optimizer(n, r)) for n, r in
             [("lbfgs", None), ("lbfgs", 0.5), ("adam", 0.1), ("adam", 0.2), ("momentum", 0.1)]}
    assert None not in names and len(names) == 5  # one name per optimizer and step size
    assert stable_name(objective) == "dl_workshop.estimator.problem.objective"
    assert stable_name(LEAST_SQUARES) == (
        "dl_workshop.engine.objective.Objective(dl_workshop.estimator.problem.objective, "
        "dl_workshop.estimator.problem.objective_value)"
    )
    assert stable_name(FullBatchObjective(linear_model, mseloss)) == (
        "dl_workshop.objectives.full_batch.FullBatchObjective("
        "dl_workshop.lesson.model.linear_model, dl_workshop.lesson.losses.mseloss)"
    )
    assert stable_name(FullBatchObjective(lambda t, x: x, mseloss)) is None


_KEY = """
import numpy as np
from dl_workshop.compilation.executables import call_key
print(call_key("f", (np.zeros(2),), {"n": 1}))
"""


def test_an_edited_checkout_is_another_key(tmp_path):
    import shutil

    shutil.copytree(ROOT / "src" / "dl_workshop", tmp_path / "dl_workshop",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "JAX_PLATFORMS": "cpu"}

    def key():
        done = subprocess.run([sys.executable, "-c", _KEY], env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.strip().splitlines()[-1]

    before = key()
    with open(tmp_path / "dl_workshop" / "model.py", "a") as source:
        source.write("\n# edited\n")
    assert key() != before
    assert len(before) == 64  # a key, not None


def test_other_xla_flags_are_another_key(monkeypatch):
    from dl_workshop.compilation import executables as _executables

    args, static = (np.zeros(2),), {"n": 1}
    before = _executables.call_key("f", args, static)
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=true")
    assert len({before, _executables.call_key("f", args, static)}) == 2


@pytest.mark.parametrize("option", ["jax_disable_jit", "jax_debug_nans"])
def test_debugging_options_bypass_the_executable_cache(option):
    from dl_workshop.compilation import executables as _executables

    before = getattr(jax.config, option)
    jax.config.update(option, True)
    try:
        assert _executables.call_key("f", (np.zeros(2),), {"n": 1}) is None
        result = fit({"w": 0.0, "b": 0.0}, linear_model, mseloss, np.arange(4.0),
                     np.arange(4.0), 5, 0.01, progress=False)
        assert np.all(np.isfinite(result.losses))
    finally:
        jax.config.update(option, before)
    assert _executables.call_key("f", (np.zeros(2),), {"n": 1}) is not None
