"""``fit``'s options are declared once (``dl_workshop.fitting.settings.OPTIONS``): the front doors'
signatures and docs, the checkpoint's run description and the command line's flags are built
from it, so adding an option touches the declaration and the code where it acts, and no
near-copy of an option list is left in the package.

``option_places`` reads the syntax trees of the modules that handle fit's options (those that
import ``dl_workshop.fitting.settings``) and lists, for every option, the places (functions) that
name
it as a parameter, a keyword argument or a string; a place naming three or more options is an
option list. Run this file with ``-s`` to print the table."""

import ast
import contextlib
import inspect
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import dl_workshop.fitting.solver
from dl_workshop import fit, linear_model, model_optimization_loop, mseloss
from dl_workshop.cli import build_parser
from dl_workshop.fitting.optimization import fit_objective
from dl_workshop.fitting.parallel import fit_sharded
from dl_workshop.fitting.settings import OPTIONS, fit_settings, recorded_options
from dl_workshop.fitting.streaming import fit_stream

SRC = Path(__file__).resolve().parent.parent / "src" / "dl_workshop"
DECLARATION = "fitting/settings.py"
#: A place naming this many of fit's options spells out an option list.
LIST_SIZE = 3
#: Places outside the declaration where an option may be listed (where it acts).
MAX_LIST_PLACES = 2
#: The most options one place outside the declaration may name (where several act together).
MAX_OPTIONS_PER_PLACE = 3
#: Places that translate another vocabulary into fit's options, not copies of fit's list: a new
#: option of ``fit`` does not touch them (they name only the options they set).
TRANSLATIONS = {
    # The estimator's scikit-learn hyperparameters (max_iter, n_iter_no_change, verbose, ...).
    "estimator/solve.py:run_engine",
    "estimator/solve.py:fit_engine",
}


def _counted(place: str) -> bool:
    return not place.startswith(f"{DECLARATION}:") and place not in TRANSLATIONS


def _imports_settings(tree: ast.AST) -> bool:
    return any(
        isinstance(node, ast.ImportFrom) and node.module == "dl_workshop.fitting.settings"
        for node in ast.walk(tree)
    )


class _Names(ast.NodeVisitor):
    """The options each function (or class, or the module) names as a parameter, keyword or
    string; attribute reads (``settings.dtype``) are uses, not lists."""

    def __init__(self, options) -> None:
        self.options, self.stack, self.found = set(options), [], {}

    def _add(self, name) -> None:
        if name in self.options:
            self.found.setdefault(".".join(self.stack) or "<module>", set()).add(name)

    def visit(self, node) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.stack.append(node.name)
            self.generic_visit(node)
            self.stack.pop()
        else:
            super().visit(node)

    def visit_arg(self, node) -> None:
        self._add(node.arg)

    def visit_keyword(self, node) -> None:
        self._add(node.arg)
        self.generic_visit(node)

    def visit_Constant(self, node) -> None:
        if isinstance(node.value, str):
            self._add(node.value)


def names_by_place(sources: dict[str, str], options) -> dict[str, set[str]]:
    """``{"file:function": options it names}`` over ``sources`` (``{file: source text}``)."""
    places = {}
    for file, text in sources.items():
        visitor = _Names(options)
        visitor.visit(ast.parse(text))
        places.update({f"{file}:{place}": names for place, names in visitor.found.items()})
    return places


def package_sources() -> dict[str, str]:
    """The package's modules that handle fit's options, by path under ``src/dl_workshop``."""
    sources = {}
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text()
        if path.relative_to(SRC).as_posix() == DECLARATION or _imports_settings(ast.parse(text)):
            sources[str(path.relative_to(SRC))] = text
    return sources


def crowded_places(sources: dict[str, str]) -> dict[str, set[str]]:
    """The places outside the declaration that name more than ``MAX_OPTIONS_PER_PLACE``."""
    return {
        place: names
        for place, names in names_by_place(sources, OPTIONS).items()
        if len(names) > MAX_OPTIONS_PER_PLACE and _counted(place)
    }


def option_places(sources: dict[str, str]) -> dict[str, list[str]]:
    """For each option, the option lists naming it outside the declaration."""
    places = names_by_place(sources, OPTIONS)
    return {
        option: sorted(
            place
            for place, names in places.items()
            if option in names and len(names) >= LIST_SIZE and _counted(place)
        )
        for option in OPTIONS
    }


def test_scan_covers_the_front_doors_and_the_command_line():
    assert {"fitting/optimization.py", "fitting/streaming.py", "fitting/parallel.py",
            "fitting/checkpoint.py", "fitting/solver.py",
            "cli/fit.py", DECLARATION} <= set(package_sources())


def test_each_option_is_listed_in_at_most_two_places_besides_its_declaration():
    table = option_places(package_sources())
    print("\noption            list places outside fitting/settings.py")
    for option, places in table.items():
        print(f"{option:<18}{len(places)}  {', '.join(places)}")
    crowded = {option: places for option, places in table.items()
               if len(places) > MAX_LIST_PLACES}
    assert not crowded, f"near-copies of fit's option list: {crowded}"
    assert not crowded_places(package_sources())


def test_the_scan_catches_a_near_copy_of_the_option_list():
    # What the front doors looked like before the declaration: fit's options spelled out in a
    # signature and again in the call that validates them.
    near_copy = "def door(theta, *, " + ", ".join(f"{o}=None" for o in OPTIONS) + "):\n"
    near_copy += "    return fit_settings(" + ", ".join(f"{o}={o}" for o in OPTIONS) + ")\n"
    assert set(crowded_places({**package_sources(), "planted.py": near_copy})) == {
        "planted.py:door"
    }
    # Even a short list of four options, where they do not act, is one.
    short = "def door(theta, n_steps, step_size, tol, patience):\n    return theta\n"
    assert set(crowded_places({"planted.py": short})) == {"planted.py:door"}
    copies = {f"planted{i}.py": near_copy for i in range(MAX_LIST_PLACES + 1)}
    assert all(
        len(places) > MAX_LIST_PLACES
        for places in option_places({**package_sources(), **copies}).values()
    )


DOORS = {
    fit: ("fit", 5),
    model_optimization_loop: ("fit", 5),
    fit_sharded: ("fit", 5),
    fit_objective: ("fit_objective", 3),
    fit_stream: ("fit_stream", 4),
}


@pytest.mark.parametrize("door", list(DOORS), ids=lambda door: door.__name__)
def test_front_door_signature_and_help_come_from_the_declaration(door):
    name, n_own = DOORS[door]
    parameters = inspect.signature(door).parameters
    declared = [option for option, spec in OPTIONS.items() if name in spec.doors]
    own = inspect.signature(door.__wrapped__).parameters  # the door's body, with settings=
    assert "settings" in own
    assert [p for p in parameters if p in OPTIONS and p not in own] == declared
    for option in declared:
        assert parameters[option].default is OPTIONS[option].default
        first_words = " ".join(OPTIONS[option].doc.split()[:4])
        assert f"{option}: {first_words}" in " ".join(door.__doc__.split())
    positional = [p for p in parameters.values() if p.kind == p.POSITIONAL_OR_KEYWORD]
    if name != "fit_stream":  # fit(theta, model, loss, x, y, n_steps, step_size, ...)
        assert [p.name for p in positional[n_own:]] == ["n_steps", "step_size"]
    assert "settings" not in parameters


def test_front_doors_bind_arguments_as_before():
    x = np.linspace(-1.0, 1.0, 16)
    y = 3 * x + 1
    theta = {"w": 0.0, "b": 0.0}
    by_position = fit(theta, linear_model, mseloss, x, y, 40, 0.3, progress=False)
    by_keyword = fit(theta, linear_model, mseloss, x, y, step_size=0.3, n_steps=40,
                     progress=False)
    np.testing.assert_array_equal(by_position.losses, by_keyword.losses)
    assert by_position.n_steps == 40
    losses, _ = model_optimization_loop(theta, linear_model, mseloss, x, y, 40, 0.3,
                                        progress=False)
    np.testing.assert_array_equal(losses, by_position.losses)
    with pytest.raises(TypeError, match=r"^fit\(\) got an unexpected keyword argument 'bogus'"):
        fit(theta, linear_model, mseloss, x, y, bogus=1)
    with pytest.raises(TypeError, match=r"^fit\(\) missing a required argument: 'y'"):
        fit(theta, linear_model, mseloss, x)
    with pytest.raises(TypeError, match="unexpected keyword argument 'checkpoint'"):
        fit_stream(theta, linear_model, mseloss, [(x, y)], batch_size=4, checkpoint="c.npz")
    with pytest.raises(ValueError, match=r"n_steps must be an integer >= 1; got 0"):
        fit_objective(lambda p, t, d: (0.0, p), theta, None, 0)


def test_fit_settings_defaults_are_the_declared_ones():
    settings = fit_settings()
    for option, spec in OPTIONS.items():
        if option != "dtype":  # validated to JAX's default float
            assert getattr(settings, option) == spec.default, option
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        fit_settings(bogus=1)


def test_checkpoint_records_the_declared_options(tmp_path):
    from dl_workshop.fitting.checkpoint import load_checkpoint

    x = np.linspace(-1.0, 1.0, 16)
    fit({"w": 0.0, "b": 0.0}, linear_model, mseloss, x, 3 * x + 1, 20, 0.3, progress=False,
        checkpoint=tmp_path / "run.npz", batch_size=4, seed=7)
    run = load_checkpoint(tmp_path / "run.npz").run
    recorded = recorded_options(fit_settings())
    assert set(recorded) <= set(run)
    assert {"progress", "resume", "overwrite", "checkpoint", "on_divergence"}.isdisjoint(run)
    assert (run["n_steps"], run["batch_size"], run["seed"], run["step_size"]) == (20, 4, 7, 0.3)


def test_command_line_flags_come_from_the_declaration():
    parser = build_parser()
    fit_parser = parser._subparsers._group_actions[0].choices["fit"]
    by_dest = {action.dest: action for action in fit_parser._actions}
    flagged = {option: spec.flag for option, spec in OPTIONS.items() if spec.flag is not None}
    assert set(flagged) == {"checkpoint", "checkpoint_every", "resume", "overwrite"}
    for option, flag in flagged.items():
        assert by_dest[option].option_strings == [flag.flag]
        assert by_dest[option].help == flag.help


def _engine_stacks(call):
    """The package modules on the stack (each run of one module once) at every call of the
    engine's loop, and how many times the options were validated."""
    stacks, validations = [], []

    def profile(frame, event, _arg):
        if event != "call":
            return
        if frame.f_code.co_name == "fit_settings":
            validations.append(1)
        if frame.f_code.co_name == "run_loop":
            modules, walk = [], frame
            while walk is not None:
                module = walk.f_globals.get("__name__", "")
                if module.startswith("dl_workshop") and (not modules or modules[-1] != module):
                    modules.append(module)
                walk = walk.f_back
            stacks.append(modules[::-1])

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return stacks, len(validations)


@pytest.mark.parametrize("door", list(DOORS), ids=lambda door: door.__name__)
def test_front_doors_reach_the_engine_on_a_straight_path(door):
    x = np.linspace(-1.0, 1.0, 16)
    y = 3 * x + 1
    theta = {"w": 0.0, "b": 0.0}
    calls = {
        "fit_objective": lambda: door(_objective, theta, (x, y), 20, 0.3, progress=False),
        "fit_stream": lambda: door(theta, linear_model, mseloss, [(x, y)], batch_size=4,
                                   step_size=0.3, progress=False),
    }
    call = calls.get(door.__name__, lambda: door(theta, linear_model, mseloss, x, y, 20, 0.3,
                                                 progress=False))
    stacks, validations = _engine_stacks(call)
    assert stacks and validations == 1
    for modules in stacks:
        assert len(modules) == len(set(modules)), f"a module entered twice: {modules}"
        assert modules[0] == "dl_workshop.fitting.settings"
        assert modules[-1] == "dl_workshop.engine.runner"


def _objective(params, t, data):
    import jax

    x, y = data
    return jax.value_and_grad(lambda p: mseloss(p, linear_model, x, y))(params)


@contextlib.contextmanager
def _ctrl_c_after_the_first_chunk():
    """Ctrl-C (``KeyboardInterrupt``) from the loop's host callback after its first chunk, by
    wrapping the engine's runner as the solver calls it (as tests/test_checkpoint.py does)."""
    original = dl_workshop.fitting.solver.run_loop

    def wrapped(*args, callback=None, **kwargs):
        def interrupt(state, losses, path_parts):
            if callback is not None:
                callback(state, losses, path_parts)
            raise KeyboardInterrupt

        return original(*args, callback=interrupt, **kwargs)

    dl_workshop.fitting.solver.run_loop = wrapped
    try:
        yield
    finally:
        dl_workshop.fitting.solver.run_loop = original


@pytest.mark.parametrize("checkpoint", [False, True], ids=["plain", "checkpoint"])
@pytest.mark.parametrize("door", list(DOORS), ids=lambda door: door.__name__)
def test_the_ctrl_c_warning_points_at_the_callers_line(door, checkpoint, tmp_path):
    if checkpoint and door is fit_stream:
        pytest.skip("fit_stream takes no checkpoint")
    x = np.linspace(-1.0, 1.0, 16)
    y = 3 * x + 1
    theta = {"w": 0.0, "b": 0.0}
    options = {"progress": False}
    if door is not fit_stream:
        options.update(checkpoint_every=10, n_steps=40, step_size=0.3)
        if checkpoint:
            options["checkpoint"] = tmp_path / "run.npz"
    with warnings.catch_warnings(record=True) as caught, _ctrl_c_after_the_first_chunk():
        warnings.simplefilter("always")
        if door is fit_objective:
            door(_objective, theta, (x, y), **options)
        elif door is fit_stream:
            door(theta, linear_model, mseloss, [(x, y)] * 3, batch_size=4, step_size=0.3,
                 **options)
        else:
            door(theta, linear_model, mseloss, x, y, **options)
    interrupted = [w for w in caught if "interrupted by the user" in str(w.message)]
    assert len(interrupted) == 1
    assert interrupted[0].filename == __file__
