"""Safe files: a file whose arrays disagree with its JSON header is refused, never loaded."""

import numpy as np
import pytest

from dl_workshop import LinearParams, load_params, save_params
from dl_workshop.io.persistence import load_arrays, save_arrays

META = "__meta__"


def _rewrite(path, change):
    """Rewrite the .npz at ``path`` with ``change(members)`` applied, keeping its header."""
    with np.load(path, allow_pickle=False) as archive:
        members = {name: archive[name] for name in archive.files}
    change(members)
    with open(path, "wb") as handle:
        np.savez(handle, **members)


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "theta.npz"
    save_params(path, {"w": np.arange(6.0).reshape(3, 2), "b": np.zeros(2)})
    return path


def _leaf_names(path):
    with np.load(path, allow_pickle=False) as archive:
        return sorted(name for name in archive.files if name != META)


def test_round_trip_keeps_values_dtypes_and_containers(tmp_path):
    theta = LinearParams(w=np.arange(6.0, dtype=np.float32).reshape(3, 2), b=np.ones(2))
    path = save_params(tmp_path / "p.npz", theta)
    loaded = load_params(path)
    assert type(loaded) is LinearParams
    np.testing.assert_array_equal(loaded.w, theta.w)
    assert loaded.w.dtype == np.float32 and loaded.b.dtype == np.float64


def _cast(dtype):
    return lambda members, name: members.__setitem__(name, members[name].astype(dtype))


def _flatten(members, name):
    members[name] = members[name].reshape(-1)


HEADER_SAYS = r"but its header says \(3, 2\) and float64"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_cast(np.float32), r"has shape \(3, 2\) and dtype float32, " + HEADER_SAYS),
        (_flatten, r"has shape \(6,\) and dtype float64, " + HEADER_SAYS),
        (_cast(np.int64), r"has shape \(3, 2\) and dtype int64, " + HEADER_SAYS),
    ],
    ids=["cast", "reshaped", "cast-to-int"],
)
def test_an_array_that_disagrees_with_the_header_is_refused(saved, change, message):
    name = next(n for n in _leaf_names(saved) if np.load(saved)[n].ndim == 2)
    _rewrite(saved, lambda members: change(members, name))
    with pytest.raises(ValueError, match=rf"is corrupted: array '{name}' {message}"):
        load_params(saved)


def test_a_missing_array_is_refused(saved):
    name = _leaf_names(saved)[0]
    _rewrite(saved, lambda members: members.pop(name))
    with pytest.raises(ValueError, match=r"is corrupted: it lists arrays .* but holds"):
        load_params(saved)


def test_an_extra_array_is_refused(saved):
    _rewrite(saved, lambda members: members.__setitem__("intruder", np.ones(3)))
    with pytest.raises(ValueError, match=r"is corrupted: it lists arrays .* but holds .*intruder"):
        load_params(saved)


def test_a_file_without_its_header_is_refused(saved):
    _rewrite(saved, lambda members: members.pop(META))
    with pytest.raises(ValueError, match="it has no dl-workshop header"):
        load_params(saved)


def test_another_kind_of_file_is_refused(tmp_path):
    path = save_arrays(tmp_path / "m.npz", {"a": np.zeros(2)}, kind="model")
    with pytest.raises(ValueError, match=r"holds a 'model', not a 'params'"):
        load_arrays(path, kind="params")
