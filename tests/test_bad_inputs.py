"""A table of bad inputs across the public API and the command line.

Every row asserts the error type and its one-sentence message (argument, constraint, value
received), and that the caller's own objects and files were left exactly as they were.
"""

import copy
import re

import numpy as np
import optax
import pandas as pd
import pytest

from dl_workshop import (
    estimate_curvature,
    fit,
    gradient_descent,
    initialize_linear_params,
    linear_model,
    load_params,
    make_y,
    mse,
    mseloss,
    save_params,
)
from dl_workshop.cli import main
from dl_workshop.estimator import GradientDescentRegressor as Regressor
from dl_workshop.fitting.checkpoint import load_checkpoint


def caller_objects():
    """What a caller holds: parameters, data and settings (checked unchanged afterwards)."""
    return {
        "theta": {"w": 0.5, "b": np.array(-1.0)},
        "x": np.linspace(-1.0, 1.0, 5),
        "y": np.array([1.0, 2.0, 3.0, 4.0, 5.0]),
        "x2": np.arange(15.0).reshape(5, 3),
        "y4": np.ones(4),
        "xs_list": [1.0, 2.0, 3.0, 4.0, 5.0],
    }


def assert_unchanged(now, before):
    if isinstance(before, dict):
        assert now.keys() == before.keys()
        for key in before:
            assert_unchanged(now[key], before[key])
    elif isinstance(before, (list, tuple)):
        assert type(now) is type(before) and len(now) == len(before)
        for a, b in zip(now, before, strict=True):
            assert_unchanged(a, b)
    elif isinstance(before, np.ndarray):
        assert now.dtype == before.dtype and now.shape == before.shape
        np.testing.assert_array_equal(now, before)
    else:
        assert now == before or (now != now and before != before)  # NaN equals NaN here


def _fit(c, **overrides):
    args = {"theta": c["theta"], "x": c["x"], "y": c["y"], "n_steps": 5, "step_size": 0.1}
    args.update(overrides)
    theta, x, y = args.pop("theta"), args.pop("x"), args.pop("y")
    return fit(theta, linear_model, mseloss, x, y, progress=False, **args)


def _params_file(c, tmp):
    return save_params(tmp / "params.npz", c["theta"])


def _truncated_file(c, tmp):
    path = save_params(tmp / "params.npz", c["theta"])
    path.write_bytes(path.read_bytes()[:100])
    return path


def _other_run_checkpoint(c, tmp):
    path = tmp / "run.npz"
    _fit(c, checkpoint=path, checkpoint_every=5)
    return _fit(c, checkpoint=path, resume=True, step_size=0.2)


# (id, call(caller_objects, tmp_path), error type, message pattern)
API_ROWS = [
    # fit: data
    ("x-y-lengths", lambda c, t: _fit(c, y=c["y4"]), ValueError,
     r"^x and y must have the same number of samples; got 5 and 4$"),
    ("x-empty", lambda c, t: _fit(c, x=np.array([]), y=np.array([])), ValueError,
     r"^x must not be empty; got shape \(0,\)$"),
    ("x-strings", lambda c, t: _fit(c, x=["a", "b", "c", "d", "e"]), TypeError,
     r"^x must be numeric \(int or float\); got dtype <U1"),
    ("x-string", lambda c, t: _fit(c, x="abcde"), TypeError, r"^x must be numeric data; got a str"),
    ("y-bool", lambda c, t: _fit(c, y=[True, False, True, True, False]), TypeError,
     r"^y must be numeric, not boolean"),
    ("x-complex", lambda c, t: _fit(c, x=c["x"] * 1j), TypeError,
     r"^x must be real-valued, not complex; got array of shape \(5,\) and dtype complex128$"),
    ("x-ragged", lambda c, t: _fit(c, x=[[1.0, 2.0], [3.0]], y=[1.0, 2.0]), TypeError,
     r"^x must be numeric data \(a number, list or array\); got \[\[1.0, 2.0\], \[3.0\]\]$"),
    ("x-object", lambda c, t: _fit(c, x=np.array([1.0, None, 2.0, 3.0, 4.0])), TypeError,
     r"^x must be numeric \(int or float\); got dtype object"),
    ("x-3d", lambda c, t: _fit(c, x=np.ones((5, 2, 2))), ValueError,
     r"^x must be 1-D or 2-D; got shape \(5, 2, 2\)$"),
    ("y-nan", lambda c, t: _fit(c, y=np.where(c["y"] > 4, np.nan, c["y"])), ValueError,
     r"^y must be finite; got 1 NaN or infinite value\(s\) in an array of shape \(5,\)$"),
    ("x-inf", lambda c, t: _fit(c, x=np.where(c["x"] > 0.9, np.inf, c["x"])), ValueError,
     r"^x must be finite; got 1 NaN or infinite"),
    ("y-shape", lambda c, t: _fit(c, y=np.ones((5, 2))), ValueError,
     r"^y must have the same shape as the model's predictions; got y of shape \(5, 2\) and "
     r"predictions of shape \(5,\)$"),
    # fit: parameters
    ("theta-missing-b", lambda c, t: _fit(c, theta={"w": 1.0}), ValueError,
     r"^theta must have keys 'w' and 'b'; missing 'b' in dict with keys \['w'\]$"),
    ("theta-nan", lambda c, t: _fit(c, theta={"w": np.nan, "b": 0.0}), ValueError,
     r"^theta\['w'\] must be finite; got nan containing NaN or inf$"),
    ("theta-str", lambda c, t: _fit(c, theta={"w": 1.0, "b": "0"}), TypeError,
     r"^theta\['b'\] must be numeric data; got a str: '0'$"),
    ("theta-bool", lambda c, t: _fit(c, theta=(True, 0.0)), TypeError,
     r"^theta\[0\] must be numeric, not boolean; got True$"),
    ("theta-3-tuple", lambda c, t: _fit(c, theta=(0.0, 0.0, 0.0)), ValueError,
     r"^theta as a tuple or list must be \(w, b\), of length 2; got length 3$"),
    ("theta-none", lambda c, t: _fit(c, theta=None), TypeError,
     r"^theta must be parameters \(e.g. a dict \{'w': ..., 'b': ...\}\); got None$"),
    ("theta-number", lambda c, t: _fit(c, theta=3.0), TypeError,
     r"^theta must be a dict .* got a single array of shape \(\)$"),
    ("theta-empty-leaf", lambda c, t: _fit(c, theta={"w": np.array([]), "b": 0.0}), ValueError,
     r"^theta\['w'\] must not be empty; got shape \(0,\)$"),
    ("w-vs-x", lambda c, t: _fit(c, theta={"w": np.ones(2), "b": 0.0}, x=c["x2"]), ValueError,
     r"^x must have shape \(n, 2\) to match w of shape \(2,\) \(matrix form: x @ w\); got x of "
     r"shape \(5, 3\)$"),
    ("b-shape", lambda c, t: _fit(c, theta={"w": np.ones((3, 2)), "b": np.ones(3)}, x=c["x2"],
                                  y=np.ones((5, 2))), ValueError,
     r"^theta's b must be a scalar or have shape \(2,\) to match predictions of shape \(5, 2\); "
     r"got b of shape \(3,\)$"),
    # fit: hyperparameters
    ("n_steps-zero", lambda c, t: _fit(c, n_steps=0), ValueError,
     r"^n_steps must be an integer >= 1; got 0$"),
    ("n_steps-float", lambda c, t: _fit(c, n_steps=2.5), TypeError,
     r"^n_steps must be an integer >= 1; got 2.5$"),
    ("step_size-negative", lambda c, t: _fit(c, step_size=-0.1), ValueError,
     r"^step_size must be a finite number > 0; got -0.1$"),
    ("step_size-nan", lambda c, t: _fit(c, step_size=float("nan")), ValueError,
     r"^step_size must be a finite number > 0; got nan$"),
    ("step_size-str", lambda c, t: _fit(c, step_size="0.1"), TypeError,
     r"^step_size must be a finite number > 0; got '0.1'$"),
    ("tol-negative", lambda c, t: _fit(c, tol=-1e-3), ValueError,
     r"^tol must be a finite number > 0; got -0.001$"),
    ("patience-zero", lambda c, t: _fit(c, patience=0), ValueError,
     r"^patience must be an integer >= 1; got 0$"),
    ("record_every-negative", lambda c, t: _fit(c, record_every=-1), ValueError,
     r"^record_every must be an integer >= 0; got -1$"),
    ("on_divergence", lambda c, t: _fit(c, on_divergence="ignore"), ValueError,
     r"^on_divergence must be 'raise' or 'warn'; got 'ignore'$"),
    ("dtype-int", lambda c, t: _fit(c, dtype="int32"), ValueError,
     r"^dtype must be 'float32' or 'float64'; got 'int32'$"),
    ("optimizer-factory", lambda c, t: _fit(c, optimizer=optax.adam), TypeError,
     r"^optimizer must be an optax.GradientTransformation \(e.g. optax.adam\(1e-2\)\) or None; "
     r"got <function adam"),
    ("progress", lambda c, t: fit(c["theta"], linear_model, mseloss, c["x"], c["y"],
                                  progress="yes"), TypeError,
     r"^progress must be True, False or None; got 'yes'$"),
    ("model-not-callable", lambda c, t: fit(c["theta"], "linear", mseloss, c["x"], c["y"]),
     TypeError, r"^model must be a function model\(theta, x\); got 'linear'$"),
    ("loss-not-callable", lambda c, t: fit(c["theta"], linear_model, None, c["x"], c["y"]),
     TypeError, r"^loss must be callable; got None$"),
    ("loss-not-scalar", lambda c, t: fit(c["theta"], linear_model,
                                         lambda th, m, x, y: (m(th, x) - y) ** 2, c["x"], c["y"]),
     ValueError, r"^the model and loss could not be evaluated on theta with shapes .*: Gradient "
     r"only defined for scalar-output functions"),
    ("loss-wrong-signature", lambda c, t: fit(c["theta"], linear_model, mse, c["x"], c["y"]),
     ValueError, r"could not be evaluated .*: mse\(\) takes 2 positional arguments but 4"),
    # fit: checkpoints
    ("resume-without-checkpoint", lambda c, t: _fit(c, resume=True), ValueError,
     r"^resume=True needs checkpoint=PATH, the file to resume from; got None$"),
    ("checkpoint-type", lambda c, t: _fit(c, checkpoint=3), TypeError,
     r"^checkpoint must be a file path \(str or Path\); got 3$"),
    ("checkpoint_every-zero", lambda c, t: _fit(c, checkpoint=t / "c.npz", checkpoint_every=0),
     ValueError, r"^checkpoint_every must be an integer >= 1; got 0$"),
    ("checkpoint-other-run", _other_run_checkpoint, ValueError,
     r"^cannot resume from .*run.npz': it was written by a different run \(step_size: "
     r"checkpoint 0.1, this run 0.2\); pass overwrite=True"),
    ("load_checkpoint-params-file", lambda c, t: load_checkpoint(_params_file(c, t)), ValueError,
     r"params.npz' holds a 'params', not a 'checkpoint'$"),
    # the scikit-learn estimator (its data checks are scikit-learn's own)
    ("estimator-max_iter", lambda c, t: Regressor(max_iter=0).fit(c["x2"], c["y"]), ValueError,
     r"^max_iter must be an integer >= 1; got 0$"),
    ("estimator-optimizer", lambda c, t: Regressor(optimizer="sgd").fit(c["x2"], c["y"]),
     ValueError, r"^optimizer must be one of 'gd', 'momentum', 'adam', 'lbfgs' or an optax"),
    ("estimator-nan", lambda c, t: Regressor().fit(np.where(c["x2"] > 13, np.nan, c["x2"]),
                                                   c["y"]), ValueError,
     r"^Input X contains NaN\.\n"),
    ("estimator-lengths", lambda c, t: Regressor().fit(c["x2"], c["y4"]), ValueError,
     r"^Found input variables with inconsistent numbers of samples: \[5, 4\]$"),
    ("estimator-complex", lambda c, t: Regressor().fit(c["x2"] * 1j, c["y"]), ValueError,
     r"^Complex data not supported"),
    ("estimator-resume", lambda c, t: Regressor(resume=True).fit(c["x2"], c["y"]), ValueError,
     r"^resume=True needs checkpoint=PATH"),
    # Fitted on full-rank columns (x, x², x³ of one column), so that the fit itself is quiet.
    ("estimator-predict-features", lambda c, t: Regressor().fit(
        c["x2"] ** np.array([1, 2, 3]), c["y"]).predict(c["x2"][:, :2]), ValueError,
     r"^X has 2 features, but GradientDescentRegressor is expecting 3 features as input\.$"),
    # other public functions
    ("init-n_inputs", lambda c, t: initialize_linear_params(0), ValueError,
     r"^n_inputs must be an integer >= 1; got 0$"),
    ("init-n_outputs-alone", lambda c, t: initialize_linear_params(n_outputs=2), ValueError,
     r"^n_inputs is required when n_outputs is given; got n_inputs=None, n_outputs=2$"),
    ("init-seed", lambda c, t: initialize_linear_params(seed=-1), ValueError,
     r"^seed must be an integer >= 0; got -1$"),
    ("init-key", lambda c, t: initialize_linear_params(key="abc"), TypeError,
     r"^key must be a JAX PRNG key such as jax.random.key\(0\); got 'abc'$"),
    ("make_y-noise", lambda c, t: make_y(c["x"], noise=-1.0), ValueError,
     r"^noise must be a finite number >= 0; got -1.0$"),
    ("make_y-w-nan", lambda c, t: make_y(c["x"], np.nan, 1.0), ValueError,
     r"^w must be finite; got nan$"),
    ("linear_model-theta", lambda c, t: linear_model(5, c["x"]), TypeError,
     r"^theta must be a dict .* got int$"),
    ("linear_model-x-str", lambda c, t: linear_model(c["theta"], "abc"), TypeError,
     r"^x must be numeric data; got a str: 'abc'$"),
    ("mse-shapes", lambda c, t: mse(c["y"], c["y4"]), ValueError,
     r"^y must have the same shape as the model's predictions; got y of shape \(5,\) and "
     r"predictions of shape \(4,\)$"),
    ("mseloss-model", lambda c, t: mseloss(c["theta"], 3, c["x"], c["y"]), TypeError,
     r"^model must be a function model\(theta, x\); got 3$"),
    ("gradient_descent-rate", lambda c, t: gradient_descent(0.0), ValueError,
     r"^learning_rate must be a finite number > 0; got 0.0$"),
    ("estimate_curvature-n_iter", lambda c, t: estimate_curvature(
        mseloss, c["theta"], linear_model, c["x"], c["y"], n_iter=0), ValueError,
     r"^n_iter must be an integer >= 1; got 0$"),
    ("save_params-path", lambda c, t: save_params(3, c["theta"]), TypeError,
     r"^path must be a file path \(str or os.PathLike\); got 3$"),
    ("save_params-folder", lambda c, t: save_params(t / "no" / "p.npz", c["theta"]),
     FileNotFoundError, r"^folder '.*no' for '.*p.npz' does not exist$"),
    ("save_params-none", lambda c, t: save_params(t / "p.npz", None), TypeError,
     r"^theta must be parameters"),
    ("save_params-str-leaf", lambda c, t: save_params(t / "p.npz", {"w": "a"}), TypeError,
     r"^theta's parameter 1 of 1 must be numeric data; got a str: 'a'$"),
    ("load_params-missing", lambda c, t: load_params(t / "missing.npz"), FileNotFoundError,
     r"^file '.*missing.npz' does not exist$"),
    ("load_params-folder", lambda c, t: load_params(t), IsADirectoryError,
     r"^path must be a file, not a folder; got"),
    ("load_params-truncated", lambda c, t: load_params(_truncated_file(c, t)), ValueError,
     r"^cannot read '.*params.npz' as a dl-workshop file: it is corrupted or truncated"),
]  # fmt: skip


#: Rows whose message is scikit-learn's own (several lines, by its convention).
SKLEARN_MESSAGES = {"estimator-nan", "estimator-complex"}


@pytest.mark.parametrize(
    ("row", "call", "error", "match"), API_ROWS, ids=[row[0] for row in API_ROWS]
)
def test_bad_input_to_the_library(row, call, error, match, tmp_path):
    caller = caller_objects()
    before = copy.deepcopy(caller)
    with pytest.raises(error, match=match) as info:
        call(caller, tmp_path)
    if row not in SKLEARN_MESSAGES:
        assert "\n" not in str(info.value)  # one sentence, not a traceback dump
    assert_unchanged(caller, before)


@pytest.fixture
def files(tmp_path):
    """Input files of the command line (checked unchanged afterwards)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": x @ [1.5, -2.0] + 3.0})
    frame.to_csv(tmp_path / "data.csv", index=False)
    frame.assign(a=frame["a"].where(frame.index != 3)).to_csv(tmp_path / "nan.csv", index=False)
    frame.assign(b="x").to_csv(tmp_path / "text.csv", index=False)
    return tmp_path


# (id, argv, exit code, pattern of the one line on stderr)
CLI_ROWS = [
    ("missing-file", ["fit", "{d}/missing.csv", "--target", "y"], 1,
     r"^dl-workshop fit: error: file '.*missing.csv' does not exist$"),
    ("missing-target-option", ["fit", "{d}/data.csv"], 2,
     r"^dl-workshop fit: error: the following arguments are required: --target"),
    ("unknown-target", ["fit", "{d}/data.csv", "--target", "nope"], 1,
     r"^dl-workshop fit: error: target column 'nope' is not in '.*data.csv'; columns: "
     r"\['a', 'b', 'y'\]$"),
    ("nan-in-data", ["fit", "{d}/nan.csv", "--target", "y"], 1,
     r"^dl-workshop fit: error: column 'a' of '.*nan.csv' has 1 missing value\(s\)"),
    ("text-column", ["fit", "{d}/text.csv", "--target", "y"], 1,
     r"^dl-workshop fit: error: column 'b' of '.*text.csv' is not numeric"),
    ("max-iter-zero", ["fit", "{d}/data.csv", "--target", "y", "--max-iter", "0"], 1,
     r"^dl-workshop fit: error: max_iter must be an integer >= 1; got 0$"),
    ("max-iter-text", ["fit", "{d}/data.csv", "--target", "y", "--max-iter", "abc"], 2,
     r"^dl-workshop fit: error: argument --max-iter: invalid int value: 'abc'"),
    ("learning-rate-negative", ["fit", "{d}/data.csv", "--target", "y", "--learning-rate", "-1"],
     1, r"^dl-workshop fit: error: learning_rate must be a finite number > 0; got -1.0$"),
    ("optimizer-unknown", ["fit", "{d}/data.csv", "--target", "y", "--optimizer", "sgd"], 2,
     r"^dl-workshop fit: error: argument --optimizer: invalid choice: 'sgd'"),
    ("diverging", ["fit", "{d}/data.csv", "--target", "y", "--optimizer", "gd",
                   "--learning-rate", "10", "--no-standardize"], 1,
     r"^dl-workshop fit: error: GradientDescentRegressor diverged at iteration \d+ with "
     r"learning_rate=10"),
    ("resume-without-checkpoint", ["fit", "{d}/data.csv", "--target", "y", "--resume"], 2,
     r"^dl-workshop fit: error: --resume needs --checkpoint PATH$"),
    ("checkpoint-folder", ["fit", "{d}/data.csv", "--target", "y", "--checkpoint",
                           "{d}/no/run.npz"], 1,
     r"^dl-workshop fit: error: checkpoint's folder '.*no' does not exist"),
    ("checkpoint-every-zero", ["fit", "{d}/data.csv", "--target", "y", "--checkpoint",
                               "{d}/run.npz", "--checkpoint-every", "0"], 1,
     r"^dl-workshop fit: error: checkpoint_every must be an integer >= 1; got 0$"),
    ("predict-missing-model", ["predict", "{d}/model.npz", "{d}/data.csv"], 1,
     r"^dl-workshop predict: error: file '.*model.npz' does not exist$"),
    ("demo-steps", ["demo", "--steps", "0"], 1,
     r"^dl-workshop demo: error: --steps must be an integer >= 1; got 0$"),
    ("demo-step-size", ["demo", "--step-size", "-1"], 1,
     r"^dl-workshop demo: error: --step-size must be a finite number > 0; got -1.0$"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "code", "match"), [row[1:] for row in CLI_ROWS], ids=[row[0] for row in CLI_ROWS]
)
def test_bad_input_to_the_command_line(argv, code, match, files, capsys):
    before = {path.name: path.read_bytes() for path in files.iterdir()}
    try:
        returned = main([arg.format(d=files) for arg in argv])
    except SystemExit as exc:  # argparse's usage errors
        returned = exc.code
    err = capsys.readouterr().err
    assert returned == code
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert re.search(match, lines[0]), lines[0]
    assert {path.name: path.read_bytes() for path in files.iterdir()} == before
