"""Hostile model, params and checkpoint files: every malformed one is one ValueError naming the
file (one line from the command line), a zip bomb is refused before it is read, a checkpoint
path never overwrites a file that is not a checkpoint, and a model file names no path to write."""

import io
import json
import os
import re
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from dl_workshop import fit, linear_model, load_params, mseloss, save_params
from dl_workshop.cli import main
from dl_workshop.estimator import GradientDescentRegressor, load_model, save_model
from dl_workshop.fitting.checkpoint import load_checkpoint
from dl_workshop.lesson.data import make_y, x

SRC = Path(__file__).resolve().parents[1] / "src"
META = "__meta__.npy"
X2 = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 5.0]])
Y2 = X2 @ [2.0, -1.0] + 0.5


def _members(path):
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _header(members):
    return json.loads(np.load(io.BytesIO(members[META])).tobytes())


def _npy(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def _meta(header):
    text = header if isinstance(header, str) else json.dumps(header)
    return _npy(np.frombuffer(text.encode(), dtype=np.uint8))


def _write(path, members, compressed=()):
    """A zip of ``members`` (name -> bytes, or a list of pairs for duplicate names)."""
    pairs = members.items() if isinstance(members, dict) else members
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as archive:
        warnings.simplefilter("ignore")  # "Duplicate name": what the test means to write
        for name, data in pairs:
            kind = zipfile.ZIP_DEFLATED if name in compressed else zipfile.ZIP_STORED
            archive.writestr(name, data, compress_type=kind)
    return path


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    model = GradientDescentRegressor().fit(X2, Y2)
    return save_model(tmp_path_factory.mktemp("model") / "model.npz", model)


@pytest.fixture(scope="module")
def params_file(tmp_path_factory):
    return save_params(tmp_path_factory.mktemp("params") / "theta.npz", {"w": np.ones(2), "b": 1.0})


# --- malformed files: one (member-changing) recipe each -----------------------------------------


def _change_header(change):
    def recipe(members):
        header = _header(members)
        change(header)
        members[META] = _meta(header)
        return members

    return recipe


def _nested(members):
    members[META] = _meta("[" * 200_000 + "]" * 200_000)
    return members


def _claims_8_tb(members):
    header = _header(members)
    header["arrays"]["coef"]["shape"] = [1 << 40]
    members[META] = _meta(header)
    head = _npy(np.zeros(2))
    members["coef.npy"] = head.replace(b"(2,)", b"(1099511627776,)", 1)
    return members


def _set_array(name, values):
    def recipe(members):
        members[f"{name}.npy"] = _npy(values)
        return members

    return recipe


def _object_member(members):
    members["coef.npy"] = _npy(np.zeros(2)).replace(b"'<f8'", b"'|O' ", 1)
    return members


def _renamed(old, new):
    def recipe(members):
        members[new] = members.pop(old)
        return members

    return recipe


def _longer(members):
    members["coef.npy"] += b"\0" * 64
    return members


def _duplicated(members):
    return [*members.items(), ("coef.npy", members["coef.npy"])]


MALFORMED_MODELS = {
    "nested 200 000 deep": (_nested, "nested too deeply"),
    "arrays as a list": (_change_header(lambda h: h.update(arrays=[])), '"arrays" must be'),
    "a member claiming 8 TB": (_claims_8_tb, r"declares \d+ bytes of arrays, but the file"),
    "format as text": (_change_header(lambda h: h.update(format="2")), r'"format" must be .*\'2\''),
    "format from the future": (_change_header(lambda h: h.update(format=9)), "newer dl-workshop"),
    "not a header object": (_change_header(lambda h: h.clear()), "not a dl-workshop file"),
    "a negative shape": (
        _change_header(lambda h: h["arrays"]["coef"].update(shape=[-2])), "'coef' is malformed"
    ),
    "a shape as text": (
        _change_header(lambda h: h["arrays"]["coef"].update(shape="2")), "'coef' is malformed"
    ),
    "an object dtype in the header": (
        _change_header(lambda h: h["arrays"]["coef"].update(dtype="object")), "'coef' is malformed"
    ),
    "an object array member": (_object_member, "not plain numbers"),
    "a ../ member": (_renamed("coef.npy", "../coef.npy"), "member named '../coef.npy'"),
    "a member the header does not list": (
        lambda m: {**m, "extra.npy": _npy(np.ones(3))}, r"lists arrays .* but holds"
    ),
    "a member longer than declared": (_longer, r"holds \d+ bytes of data, but its header"),
    "a member twice": (_duplicated, "twice"),
    "non-finite coefficients": (
        _set_array("coef", [np.nan, np.inf]), "coefficients are not all finite"
    ),
    "a non-finite intercept": (_set_array("intercept", np.array(np.inf)), "intercepts are not"),
    "a hyperparameter out of range": (
        _change_header(lambda h: h["metadata"]["params"].update(max_iter=0)), "max_iter must be"
    ),
    "an unknown hyperparameter": (
        _change_header(lambda h: h["metadata"]["params"].update(evil=1)), "evil"
    ),
    "feature names as numbers": (
        _change_header(lambda h: h["metadata"].update(feature_names=[1, 2])), "feature names"
    ),
}


def _malformed(model_file, tmp_path, recipe):
    members = recipe(_members(model_file))
    return _write(tmp_path / "bad.npz", members)


@pytest.mark.parametrize("case", list(MALFORMED_MODELS))
def test_a_malformed_model_file_is_one_value_error_and_one_line(
    case, model_file, tmp_path, capsys
):
    recipe, match = MALFORMED_MODELS[case]
    bad = _malformed(model_file, tmp_path, recipe)
    with pytest.raises(ValueError, match=match) as info:
        load_model(bad)
    assert str(bad) in str(info.value)
    data = tmp_path / "rows.csv"
    data.write_text("x0,x1\n1,2\n")
    assert main(["predict", str(bad), str(data)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dl-workshop predict: error:")
    assert str(bad) in err[0] and re.search(match, err[0])


def test_a_compressed_member_is_refused_before_it_is_read(model_file, tmp_path):
    members = _members(model_file)
    bad = _write(tmp_path / "deflated.npz", members, compressed={"coef.npy"})
    with pytest.raises(ValueError, match=r"member 'coef.npy' is compressed"):
        load_model(bad)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda m: {**m, "leaf_2.npy": _npy(np.ones(3))}, "lists arrays"),
        (_change_header(lambda h: h["arrays"].update(extra={"shape": [1], "dtype": "float64"})),
         "lists arrays"),
        (lambda m: _change_header(
            lambda h: h["arrays"].update(extra={"shape": [1], "dtype": "float64"})
        )({**m, "extra.npy": _npy(np.ones(1))}), r"its arrays must be .*; got \['extra', 'leaf_0'"),
        (_set_array("leaf_0", [np.nan, np.inf]), "parameter 'leaf_0' is not finite"),
        (_change_header(lambda h: h["metadata"].update(tree=[])), "parameter layout is invalid"),
        (_change_header(lambda h: h["metadata"].update(
            tree={"type": "os.system", "children": []})), "parameter layout is invalid"),
    ],
    ids=["member-not-listed", "listed-not-held", "extra-array", "non-finite", "layout-list",
         "layout-type"],
)
def test_a_malformed_params_file_is_one_value_error(params_file, tmp_path, change, match):
    bad = _write(tmp_path / "bad.npz", change(_members(params_file)))
    with pytest.raises(ValueError, match=match):
        load_params(bad)


# --- the zip bomb, measured in a process of its own ----------------------------------------------

_BOMB = """
import json, resource, sys, time
from dl_workshop.estimator import load_model
def high_water_mark():
    # VmHWM belongs to this program's memory map (new at exec); getrusage's ru_maxrss would be
    # inherited from the pytest worker that started this process.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
rss = int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize()
peak_before = high_water_mark()
start = time.perf_counter()
try:
    load_model(sys.argv[1])
    outcome = "loaded"
except ValueError as exc:
    outcome = str(exc)
seconds = time.perf_counter() - start
peak = high_water_mark()
print(json.dumps({"outcome": outcome, "seconds": seconds, "rss": rss, "peak": peak,
                  "peak_before": peak_before}))
"""


def test_a_zip_bomb_is_refused_without_reading_it(model_file, tmp_path):
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        members = _members(model_file)
        header = _header(members)
        header["arrays"]["coef"]["shape"] = [100_000_000]
        archive.writestr(META, _meta(header), compress_type=zipfile.ZIP_STORED)
        for name in ("intercept.npy", "loss_curve.npy"):
            archive.writestr(name, members[name], compress_type=zipfile.ZIP_STORED)
        with archive.open("coef.npy", "w", force_zip64=True) as member:
            member.write(_npy(np.zeros(2)).replace(b"(2,)", b"(100000000,)", 1))
            block = bytes(1 << 22)
            for _ in range(800_000_000 // len(block)):
                member.write(block)
    assert bomb.stat().st_size < 1_000_000  # 800 MB of zeros in under 1 MB
    env = {**os.environ, "PYTHONPATH": str(SRC), "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", _BOMB, str(bomb)], env=env, timeout=120,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert "is compressed" in report["outcome"] and str(bomb) in report["outcome"]
    assert report["seconds"] < 1.0
    # The peak above the process's memory just before loading (imports of JAX and scikit-learn
    # peak at about 0.4 GB by themselves): an 800 MB read would be at least 800 MB.
    assert report["peak"] - report["rss"] < 300e6, report


# --- files honour the umask ----------------------------------------------------------------------


def test_files_are_written_with_the_users_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        params = save_params(tmp_path / "p.npz", {"w": 1.0})
        model = save_model(tmp_path / "m.npz", GradientDescentRegressor().fit(X2, Y2))
        fit({"w": 0.0, "b": 0.0}, linear_model, mseloss, x, make_y(x, seed=0), n_steps=20,
            step_size=0.01, progress=False, checkpoint=tmp_path / "c.npz")
        np.save(tmp_path / "reference.npy", np.zeros(1))
        os.umask(0o077)
        private = save_params(tmp_path / "q.npz", {"w": 1.0})
    finally:
        os.umask(previous)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes == {"p.npz": 0o644, "m.npz": 0o644, "c.npz": 0o644, "reference.npy": 0o644,
                     "q.npz": 0o600}
    assert load_params(params) == {"w": 1.0} and load_params(private) == {"w": 1.0}
    assert load_model(model).n_features_in_ == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


# --- checkpoints never overwrite what is not theirs ---------------------------------------------

Y = make_y(x, seed=0)


def _fit(path, **options):
    settings = {"n_steps": 40, "step_size": 0.01, "progress": False, "checkpoint_every": 20}
    settings.update(options)
    return fit({"w": 0.0, "b": 0.0}, linear_model, mseloss, x, Y, checkpoint=path, **settings)


@pytest.mark.parametrize("resume", [False, True])
@pytest.mark.parametrize("content", ["csv", "params", "symlink"])
def test_a_checkpoint_path_holding_another_file_is_refused_and_left_alone(
    tmp_path, content, resume
):
    target = tmp_path / "data.csv"
    target.write_text("x,y\n1,2\n")
    if content == "params":
        target = save_params(tmp_path / "theta.npz", {"w": 1.0})
    path = target
    if content == "symlink":
        path = tmp_path / "link.npz"
        path.symlink_to(target)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ValueError, match=re.escape(repr(str(path)))):
        _fit(path, resume=resume, overwrite=True)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # nothing written


def test_another_runs_checkpoint_needs_overwrite_and_the_same_run_may_rewrite(tmp_path):
    path = tmp_path / "run.npz"
    _fit(path)
    _fit(path)  # the same run again, from the start: its own checkpoint is replaced
    with pytest.raises(ValueError, match=r"refusing to overwrite checkpoint .*step_size.*"
                       r"overwrite=True \(--overwrite-checkpoint\)"):
        _fit(path, step_size=0.02)
    with pytest.raises(ValueError, match=r"cannot resume from .*different run"):
        _fit(path, step_size=0.02, resume=True)
    assert load_checkpoint(path).run["step_size"] == 0.01
    _fit(path, step_size=0.02, overwrite=True)
    assert load_checkpoint(path).run["step_size"] == 0.02
    fresh = _fit(tmp_path / "other.npz", step_size=0.02, n_steps=60)
    resumed = _fit(path, step_size=0.02, n_steps=60, resume=True, overwrite=True)
    np.testing.assert_array_equal(resumed.losses, fresh.losses)
    with pytest.raises(ValueError, match=r"overwrite=True needs checkpoint=PATH"):
        _fit(None, overwrite=True)


@pytest.fixture
def csv_data(tmp_path):
    path = tmp_path / "data.csv"
    rows = "\n".join(f"{a},{b},{y}" for (a, b), y in zip(X2, Y2, strict=True))
    path.write_text("a,b,y\n" + rows + "\n")
    return path


@pytest.mark.parametrize("onto", ["data", "unrelated"])
def test_the_command_lines_checkpoint_never_overwrites_a_file(tmp_path, csv_data, capsys, onto):
    unrelated = tmp_path / "notes.txt"
    unrelated.write_text("my notes\n")
    target = csv_data if onto == "data" else unrelated
    before = {p: p.read_bytes() for p in (csv_data, unrelated)}
    argv = ["fit", str(csv_data), "--target", "y", "--optimizer", "gd", "--checkpoint",
            str(target)]
    assert main(argv) == 1
    assert main([*argv, "--overwrite-checkpoint"]) == 1
    assert main([*argv, "--resume"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(str(target) in line for line in err), err
    assert {p: p.read_bytes() for p in (csv_data, unrelated)} == before


def test_the_command_lines_resume_still_works(tmp_path, csv_data, capsys):
    argv = ["fit", str(csv_data), "--target", "y", "--optimizer", "gd", "--checkpoint",
            str(tmp_path / "run.npz"), "--max-iter", "50", "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    assert main([*argv, "--resume"]) == 0
    assert load_checkpoint(tmp_path / "run.npz").step >= 1
    capsys.readouterr()


# --- a model file never carries a path to write --------------------------------------------------


def test_a_model_file_names_no_path_and_a_loaded_model_writes_nothing(tmp_path):
    checkpoint = tmp_path / "mine.npz"
    model = GradientDescentRegressor(optimizer="gd", max_iter=50, checkpoint=checkpoint,
                                     resume=True)
    with pytest.warns(ConvergenceWarning):
        model.fit(X2, Y2)
    assert checkpoint.is_file()
    saved = save_model(tmp_path / "model.npz", model)
    params = _header(_members(saved))["metadata"]["params"]
    assert not {"checkpoint", "resume", "overwrite"} & set(params)
    # A file from someone else naming a victim: the path is ignored on load.
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    victim.chmod(0o644)
    members = _change_header(lambda h: h["metadata"]["params"].update(
        checkpoint=str(victim), overwrite=True, resume=False))(_members(saved))
    hostile = _write(tmp_path / "hostile.npz", members)
    loaded = load_model(hostile)
    assert loaded.checkpoint is None and loaded.overwrite is False and loaded.resume is False
    before = {p.name: (p.read_bytes(), p.stat().st_mode) for p in tmp_path.iterdir()}
    with pytest.warns(ConvergenceWarning):
        loaded.fit(X2, Y2)
    after = {p.name: (p.read_bytes(), p.stat().st_mode) for p in tmp_path.iterdir()}
    assert after == before
    np.testing.assert_allclose(loaded.predict(X2), model.predict(X2), rtol=1e-6)
