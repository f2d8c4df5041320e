"""GradientDescentClassifier in the model file and on the command line."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

from dl_workshop import GradientDescentClassifier, load_model, save_model
from dl_workshop.cli import main


@pytest.fixture(scope="module")
def iris():
    x, y = load_iris(return_X_y=True, as_frame=True)
    return x, np.array(["setosa", "versicolor", "virginica"])[y]


@pytest.mark.parametrize("binary", [False, True])
def test_save_and_load_predict_exactly_as_the_saved_model(tmp_path, iris, binary):
    x, labels = iris
    if binary:
        labels = labels == "virginica"  # booleans are labels too
    weights = {"setosa": 2.0} if not binary else {True: 3.0}
    model = GradientDescentClassifier(class_weight=weights).fit(x, labels)
    loaded = load_model(save_model(tmp_path / "model.npz", model))
    assert isinstance(loaded, GradientDescentClassifier)
    assert loaded.classes_.tolist() == model.classes_.tolist()
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    assert loaded.predict(x).tolist() == model.predict(x).tolist()
    assert list(loaded.feature_names_in_) == list(x.columns)
    np.testing.assert_array_equal(loaded.loss_curve_, model.loss_curve_)


def _tampered(path, target, change):
    """A copy of the model file with its JSON header's metadata changed by ``change``."""
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(arrays["__meta__"].tobytes().decode())
    change(header["metadata"])
    arrays["__meta__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(target, **arrays)
    return target


@pytest.mark.parametrize("change", [
    lambda m: m.update(classes=["a"]),  # one class
    lambda m: m.update(classes=["a", "a", "b"]),  # repeated
    lambda m: m.update(classes=[{"x": 1}, "b", "c"]),  # not a label
    lambda m: m.update(classes_kind="O"),  # an unknown kind
    lambda m: m.update(classes=["a", "b"]),  # two classes for three rows of coefficients
])
def test_a_tampered_classifier_file_is_refused(tmp_path, iris, change):
    x, labels = iris
    path = save_model(tmp_path / "model.npz", GradientDescentClassifier().fit(x, labels))
    bad = _tampered(path, tmp_path / "bad.npz", change)
    with pytest.raises(ValueError, match="is not a valid"):
        load_model(bad)


def test_cli_fit_classify_and_predict_with_probabilities(tmp_path, iris, capsys):
    x, labels = iris
    table = x.assign(species=labels)
    data = tmp_path / "iris.csv"
    table.to_csv(data, index=False)
    out = tmp_path / "run"
    argv = ["fit", str(data), "--target", "species", "--task", "classify", "--alpha", "1"]
    assert main([*argv, "--out", str(out)]) == 0
    report = capsys.readouterr().out
    assert "3 classes ['setosa', 'versicolor', 'virginica']" in report
    assert "LogisticRegression" in report and "accuracy: " in report
    assert (out / "model.npz").exists() and (out / "loss_curve.png").exists()
    written = tmp_path / "predictions.csv"
    assert main(["predict", str(out / "model.npz"), str(data), "--out", str(written)]) == 0
    predictions = pd.read_csv(written)
    assert list(predictions.columns) == ["prediction", "probability_setosa",
                                         "probability_versicolor", "probability_virginica"]
    model = GradientDescentClassifier(alpha=1.0, tol=1e-12).fit(x, labels)
    np.testing.assert_allclose(predictions.iloc[:, 1:].to_numpy(), model.predict_proba(x),
                               atol=1e-9)
    assert (predictions["prediction"] == model.predict(x)).all()


def test_cli_classify_refuses_options_it_does_not_take(tmp_path, iris, capsys):
    x, labels = iris
    data = tmp_path / "iris.csv"
    x.assign(species=labels).to_csv(data, index=False)
    argv = ["fit", str(data), "--target", "species", "--task", "classify"]
    assert main([*argv, "--checkpoint", str(tmp_path / "c.npz")]) == 1
    assert "takes no --checkpoint" in capsys.readouterr().err
    assert main(["fit", str(data), "--target", "species"]) == 1  # regress: labels not numbers
    assert "must be numeric" in capsys.readouterr().err
