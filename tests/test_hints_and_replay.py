"""Hints and solutions on request, progress in this process, failures replayed from their seed."""

import importlib.util
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import nbformat
import numpy as np
import numpy.random as npr
import pytest

import dl_workshop.teaching.checks.registry as registry
from dl_workshop.teaching.checks import (
    ExerciseError,
    check_dmseloss,
    check_initialize_linear_params,
    check_linear_model,
    check_mseloss,
    check_optimization_loop,
    hint,
    progress,
    solution,
)

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
LESSON = [
    "linear_model",
    "initialize_linear_params",
    "mseloss",
    "dmseloss",
    "model_optimization_loop",
    "linear_model_matrix",
]


def test_every_lesson_exercise_is_registered_in_order():
    names = [entry.name for entry in registry.exercises("optimizing_linear_models")]
    assert names == LESSON


# ---------------------------------------------------------------------------------------------
# hint
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LESSON)
def test_hints_go_from_gentle_to_specific(name):
    total = len(registry.lookup(name).hints)
    assert total >= 2
    texts = [hint(name, n) for n in range(1, total + 1)]
    assert texts[0] == hint(name)  # n defaults to 1
    for n, text in enumerate(texts, start=1):
        assert text.startswith(f"Hint {n} of {total} for {name}: ")
    assert len(set(texts)) == total


def test_every_registered_exercise_has_two_hints_and_a_solution():
    for entry in registry.exercises():
        assert len(entry.hints) >= 2, entry.name
        assert solution(entry.name).strip(), entry.name


def test_past_the_last_hint_repeats_it_and_says_so():
    last = hint("mseloss", 3)
    beyond = hint("mseloss", 9)
    assert beyond.startswith(last)
    assert "That is the last hint, 3 of 3" in beyond
    assert "last hint" not in last


def test_unknown_exercise_lists_the_names():
    with pytest.raises(ValueError, match=r"unknown exercise 'msloss'; the exercises are: ") as info:
        hint("msloss")
    for name in LESSON:
        assert name in str(info.value)
    with pytest.raises(ValueError, match="unknown exercise"):
        solution("loop")


@pytest.mark.parametrize("n", [0, -1, 1.5, True])
def test_bad_hint_number(n):
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        hint("mseloss", n)


def test_hint_and_solution_show_as_text_in_a_notebook():
    class Printer:
        def __init__(self):
            self.out = ""

        def text(self, value):
            self.out += value

    for shown in (hint("dmseloss", 2), solution("dmseloss")):
        printer = Printer()
        shown._repr_pretty_(printer, False)
        assert printer.out == str(shown)  # not the quoted repr


def test_an_exercise_needs_two_hints():
    entry = registry.Exercise("one_hint", "test", check_mseloss, ("only one",))
    with pytest.raises(ValueError, match="needs at least 2 hints"):
        registry.register(entry)
    assert "one_hint" not in [e.name for e in registry.exercises()]


# ---------------------------------------------------------------------------------------------
# solution: one source with the notebooks, and right
# ---------------------------------------------------------------------------------------------


def _solution_cells():
    notebook = nbformat.read(NOTEBOOKS / "optimizing-linear-models-solutions.ipynb", as_version=4)
    return {
        cell.metadata["tags"][1][3:]: cell.source
        for cell in notebook.cells
        if "solution" in cell.metadata.get("tags", [])
    }


def test_solutions_are_the_solutions_notebooks_cells():
    cells = _solution_cells()
    assert sorted(cells) == sorted(LESSON)
    for name in LESSON:
        assert solution(name) == cells[name]


def test_the_packaged_solutions_are_up_to_date_with_the_source():
    spec = importlib.util.spec_from_file_location(
        "build_solutions", NOTEBOOKS / "build_solutions.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0, "run python notebooks/build_solutions.py"


def test_every_solution_defines_its_name_and_passes_its_check(capsys):
    namespace = {"jnp": jnp, "npr": npr, "np": np, "grad": jax.grad, "jax": jax}
    for name in LESSON:
        exec(solution(name), namespace)  # in lesson order: dmseloss needs mseloss
        assert callable(namespace[name])
    for name in LESSON:
        entry = registry.lookup(name)
        uses = {keyword: namespace[other] for keyword, other in entry.uses}
        assert entry.check(namespace[name], seed=0, **uses) is True
    assert capsys.readouterr().out.count("\u2713") == len(LESSON)


# ---------------------------------------------------------------------------------------------
# progress
# ---------------------------------------------------------------------------------------------


def test_progress_follows_the_latest_check_of_each_exercise(monkeypatch, capsys):
    monkeypatch.setattr(registry, "_LATEST", {})
    check_linear_model(lambda theta, x: theta["w"] * x + theta["b"])
    with pytest.raises(ExerciseError):
        check_mseloss(lambda theta, model, x, y: None)
    with pytest.raises(ExerciseError):
        check_linear_model(lambda theta, x: theta["w"] * x, form="matrix")
    assert progress("optimizing_linear_models") == {
        "linear_model": "passed",
        "initialize_linear_params": "not attempted",
        "mseloss": "failed",
        "dmseloss": "not attempted",
        "model_optimization_loop": "not attempted",
        "linear_model_matrix": "failed",
    }
    check_mseloss(lambda theta, model, x, y: jnp.mean((y - model(theta, x)) ** 2))
    assert progress()["mseloss"] == "passed"
    # A bad argument of the checker is no attempt.
    with pytest.raises(ValueError):
        check_linear_model(lambda theta, x: None, form="vector")
    assert progress()["linear_model"] == "passed"


CHAPTER = {
    "optimizing_linear_models": LESSON,
    "gradient_optimization": ["f", "df", "descend", "dfdw"],
    "logistic_regression": ["logistic", "logistic_model", "logistic_loss", "dlogistic_loss"],
}


def test_before_any_check_progress_is_empty_and_says_how_to_ask(monkeypatch):
    monkeypatch.setattr(registry, "_LATEST", {})
    shown = progress()
    assert shown == {}
    assert "No exercise has been checked" in str(shown)
    assert "progress('optimizing-linear-models')" in str(shown)


@pytest.mark.parametrize("lesson", list(CHAPTER))
def test_progress_shows_the_lesson_of_the_exercises_checked_here(monkeypatch, lesson, capsys):
    monkeypatch.setattr(registry, "_LATEST", {})
    first = registry.lookup(CHAPTER[lesson][0])
    with pytest.raises(ExerciseError):
        first.check(None)
    assert list(progress()) == CHAPTER[lesson]  # no other lesson's exercises
    assert progress()[first.name] == "failed"
    assert set(list(progress().values())[1:]) == {"not attempted"}


@pytest.mark.parametrize("lesson", list(CHAPTER))
def test_progress_of_a_lesson_asked_for_by_name(monkeypatch, lesson):
    monkeypatch.setattr(registry, "_LATEST", {"f": "passed", "mseloss": "failed"})
    hyphens = lesson.replace("_", "-")
    assert list(progress(lesson)) == CHAPTER[lesson]
    assert progress(hyphens) == progress(lesson)
    expected = {
        "gradient_optimization": {"f": "passed"},
        "optimizing_linear_models": {"mseloss": "failed"},
    }.get(lesson, {})
    assert {k: v for k, v in progress(lesson).items() if v != "not attempted"} == expected


def test_progress_shows_every_lesson_checked_in_this_kernel(monkeypatch):
    monkeypatch.setattr(registry, "_LATEST", {"f": "passed", "mseloss": "failed"})
    both = CHAPTER["optimizing_linear_models"] + CHAPTER["gradient_optimization"]
    assert list(progress()) == both


def test_progress_of_an_unknown_lesson_names_the_lessons():
    with pytest.raises(ValueError, match=r"unknown lesson 'linear-models'; the lessons are: "
                       r"optimizing_linear_models, gradient_optimization, logistic_regression"):
        progress("linear-models")
    with pytest.raises(TypeError, match=r"lesson must be a lesson's name \(a string\); got 3"):
        progress(3)


def test_progress_prints_as_a_table(monkeypatch):
    monkeypatch.setattr(registry, "_LATEST", {"mseloss": "passed"})
    lines = str(progress("optimizing_linear_models")).splitlines()
    assert lines[0].split() == ["exercise", "status"]
    assert lines[3].split() == ["mseloss", "passed"]
    assert lines[1].split() == ["linear_model", "not", "attempted"]
    assert len(lines) == 1 + len(LESSON)


# ---------------------------------------------------------------------------------------------
# Replaying a failure from its seed
# ---------------------------------------------------------------------------------------------


def _spy(answer, store):
    def spy(*args, **kwargs):
        store.append([np.asarray(a).copy() for a in args if isinstance(a, np.ndarray)])
        return answer(*args, **kwargs)

    return spy


def _wrong_init():
    return {"w": 1, "b": 2}  # integers, the same every call


REPLAYED = [
    (check_linear_model, lambda theta, x: theta["w"] * x),
    (check_initialize_linear_params, _wrong_init),
    (check_mseloss, lambda theta, model, x, y: jnp.sum((y - model(theta, x)) ** 2)),
    (check_dmseloss, jax.grad(lambda t, m, x, y: 0.5 * jnp.mean((y - m(t, x)) ** 2))),
    (
        check_optimization_loop,
        lambda theta, model, loss, x, y, n_steps=1, step_size=0.1: (
            [loss(theta, model, x, y)] * n_steps,
            theta,
        ),
    ),
]


@pytest.mark.parametrize("check, answer", REPLAYED, ids=[c.__name__ for c, _ in REPLAYED])
def test_a_failure_names_its_seed_and_the_seed_replays_it(check, answer):
    first_inputs, second_inputs = [], []
    with pytest.raises(ExerciseError) as first:
        check(_spy(answer, first_inputs))
    message = str(first.value)
    found = re.search(r"\n  Same random inputs again: seed=(\d+)$", message)
    assert found, message
    seed = int(found[1])
    assert first.value.seed == seed
    with pytest.raises(ExerciseError) as again:
        check(_spy(answer, second_inputs), seed=seed)
    assert str(again.value) == message
    assert len(first_inputs) == len(second_inputs)
    for a, b in zip(first_inputs, second_inputs, strict=True):
        for left, right in zip(a, b, strict=True):
            np.testing.assert_array_equal(left, right)


def test_fresh_seeds_differ_between_calls():
    seeds = set()
    for _ in range(5):
        with pytest.raises(ExerciseError) as info:
            check_mseloss(lambda theta, model, x, y: None)
        seeds.add(info.value.seed)
    assert len(seeds) > 1
