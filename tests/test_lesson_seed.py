"""Every code cell of the seed lesson runs, as written, against this package."""

import numpy as np
import pytest

# The lesson's code cells, verbatim (IPython magics are run only by the notebook test).
SEED_CELLS = [
    "# Exercise: Define the model in this function\ndef linear_model(theta, x):\npass",
    "from dl_workshop.answers import linear_model",
    "def initialize_linear_params():\npass",
    "# Comment this out if you fill in your answer above.\n"
    "from dl_workshop.answers import initialize_linear_params\n"
    "theta = initialize_linear_params()",
    "# Differentiable loss function w.r.t. 1st argument\ndef mseloss(theta, model, x, y):\npass",
    "from dl_workshop.answers import mseloss",
    "from dl_workshop.answers import dmseloss",
    "from dl_workshop.answers import x, make_y, b_true, w_true\n"
    "# Create y by replacing my b_true and w_true with whatever you want\n"
    "y = make_y(x, w_true, b_true)\n"
    "dmseloss(dict(w=0.3, b=0.5), linear_model, x, y)",
    "from dl_workshop.answers import model_optimization_loop\n"
    "losses, theta = model_optimization_loop(theta, linear_model, mseloss, x, y, n_steps=3000)",
    "import matplotlib.pyplot as plt\nplt.plot(losses)\nplt.xlabel('iteration')\n"
    "plt.ylabel('mse');",
    "print(theta)",
]


def _as_python(cell: str) -> str:
    """The seed's text export lost indentation of one-line bodies; restore it."""
    return cell.replace(":\npass", ":\n    pass")


def test_cells_are_the_seed_lessons(shared_dir):
    text = (shared_dir / "seed" / "optimizing-linear-models.txt").read_text()
    for cell in SEED_CELLS:
        for line in cell.splitlines():
            assert line in text, f"cell line not in the seed lesson: {line!r}"


def test_every_seed_cell_runs_and_the_fit_recovers_the_line(capsys):
    namespace = {"npr": np.random}
    for cell in SEED_CELLS:
        exec(compile(_as_python(cell), "<lesson cell>", "exec"), namespace)  # noqa: S102
    losses, theta = namespace["losses"], namespace["theta"]
    assert losses.shape == (3000,)
    assert losses[-1] < losses[0]
    assert "w" in capsys.readouterr().out
    # The lesson's step size (0.001) and 3000 steps from a random start get w close to 2.
    assert abs(float(theta["w"]) - 2.0) < 0.2


@pytest.mark.parametrize("w, b", [(2.0, 20.0), (-3.0, 5.0)])
def test_replacing_w_true_and_b_true_changes_the_data(w, b):
    from dl_workshop.answers import make_y, x

    y = make_y(x, w, b, noise=0.0)
    np.testing.assert_allclose(y, w * x + b, rtol=1e-6, atol=1e-5)
