"""The checkers of the chapter's other lessons: right answers pass, the usual mistakes get
their own hints, and a failure's seed repeats it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dl_workshop
from dl_workshop import binary_cross_entropy
from dl_workshop.teaching.checks import (
    ExerciseError,
    check_descend,
    check_df,
    check_dfdw,
    check_dlogistic_loss,
    check_f,
    check_logistic,
    check_logistic_loss,
    check_logistic_model,
    hint,
    solution,
)
from dl_workshop.teaching.checks import hints_chapter as text
from dl_workshop.teaching.checks.registry import exercises


def _fails(check, fn, *fragments):
    with pytest.raises(ExerciseError) as info:
        check(fn)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return info.value


def _descend(df, w, step_size=0.01, n_steps=1000):
    for _ in range(n_steps):
        w = w - step_size * df(w)
    return w


def _logistic_model(theta, x):
    return jax.nn.sigmoid(theta["w"] * x + theta["b"])


def _logistic_loss(theta, model, x, y):
    return -binary_cross_entropy(y, model(theta, x))


RIGHT = [
    (check_f, lambda w: w**2 + 3 * w - 5),
    (check_df, lambda w: 2 * w + 3),
    (check_dfdw, jax.grad(dl_workshop.f)),
    (check_descend, _descend),
    (check_logistic, lambda z: 1 / (1 + jnp.exp(-z))),
    (check_logistic_model, _logistic_model),
    (check_logistic_loss, _logistic_loss),
    (check_logistic_loss, dl_workshop.logistic_loss),
    (check_dlogistic_loss, jax.grad(_logistic_loss)),
    (check_dlogistic_loss, dl_workshop.dlogistic_loss),
]


@pytest.mark.parametrize(("check", "fn"), RIGHT)
def test_right_answers_pass(check, fn, capsys):
    assert check(fn) is True
    assert capsys.readouterr().out.startswith("\u2713 ")


@pytest.mark.parametrize(
    ("fn", "hint_text"),
    [
        (lambda w: w**2 + 3 * w, text.HINT_F_CONSTANT),
        (lambda w: w**2 - 3 * w - 5, text.HINT_F_LINEAR),
        (lambda w: 2 * w + 3 * w - 5, text.HINT_F_SQUARE),
        (lambda w: 2 * w + 3, text.HINT_F_IS_DF),
        (lambda w: w ^ 2 + 3 * w - 5, text.HINT_CARET),
        (lambda w: None, text.HINT_RETURNS_NONE),
        (lambda w: float(w) ** 2 + 3 * float(w) - 5, text.HINT_ELEMENTWISE),
    ],
)
def test_f_mistakes(fn, hint_text):
    _fails(check_f, fn, "f is not right yet", hint_text)


@pytest.mark.parametrize(
    ("fn", "hint_text"),
    [
        (lambda w: w**2 + 3 * w - 5, text.HINT_DF_IS_F),
        (lambda w: 2 * w, text.HINT_DF_CONSTANT),
        (lambda w: w + 3, text.HINT_DF_SQUARE),
        (lambda w: 2 * w - 2, text.HINT_DF_KEPT_CONSTANT),
        (lambda w: -2 * w - 3, text.HINT_DF_SIGN),
    ],
)
def test_df_mistakes(fn, hint_text):
    _fails(check_df, fn, "df is not right yet", hint_text)


def test_dfdw_called_instead_of_assigned():
    _fails(check_dfdw, jax.grad(dl_workshop.f)(2.0), text.HINT_DFDW_CALLED)
    _fails(check_dfdw, None, "dfdw is not right yet")


def _ascend(df, w, step_size=0.01, n_steps=1000):
    for _ in range(n_steps):
        w = w + step_size * df(w)
    return w


def _early_return(df, w, step_size=0.01, n_steps=1000):
    for _ in range(n_steps):
        w = w - step_size * df(w)
        return w


def _one_too_many(df, w, step_size=0.01, n_steps=1000):
    for _ in range(n_steps + 1):
        w = w - step_size * df(w)
    return w


def _one_too_few(df, w, step_size=0.01, n_steps=1000):
    for _ in range(n_steps - 1):
        w = w - step_size * df(w)
    return w


def _global_df(df, w, step_size=0.01, n_steps=1000):
    for _ in range(n_steps):
        w = w - step_size * dl_workshop.df(w)
    return w


def _fixed_step(df, w, step_size=0.01, n_steps=1000):
    for _ in range(n_steps):
        w = w - 0.01 * df(w)
    return w


def _listing(df, w, step_size=0.01, n_steps=1000):
    path = [w]
    for _ in range(n_steps):
        path.append(path[-1] - step_size * df(path[-1]))
    return path


@pytest.mark.parametrize(
    ("fn", "hint_text"),
    [
        (_ascend, text.HINT_DESCEND_ASCENDS),
        (lambda df, w, step_size, n_steps: w, text.HINT_DESCEND_UNCHANGED),
        (_early_return, text.HINT_DESCEND_FIRST_STEP),
        (_one_too_many, text.HINT_DESCEND_STEPS),
        (_global_df, text.HINT_DESCEND_GLOBAL),
        (_fixed_step, text.HINT_DESCEND_GLOBAL),
        (_listing, text.HINT_DESCEND_LIST),
    ],
)
def test_descend_mistakes(fn, hint_text):
    _fails(check_descend, fn, "descend is not right yet", hint_text)


def test_descend_with_the_wrong_signature_names_the_call():
    _fails(check_descend, lambda w: w, "descend(df, w, step_size, n_steps)")


@pytest.mark.parametrize(
    ("fn", "hint_text"),
    [
        (lambda z: 1 / (1 + jnp.exp(z)), text.HINT_LOGISTIC_SIGN),
        (lambda z: z, text.HINT_LOGISTIC_IDENTITY),
        (lambda z: jnp.tanh(z), text.HINT_LOGISTIC_OTHER),
        (lambda z: 1 / (1 + np.exp(-np.asarray(z))), "Use jax.numpy (jnp....) instead of numpy"),
    ],
)
def test_logistic_mistakes(fn, hint_text):
    _fails(check_logistic, fn, "logistic is not right yet", hint_text)


@pytest.mark.parametrize(
    ("fn", "hint_text"),
    [
        (lambda theta, x: theta["w"] * x + theta["b"], text.HINT_MODEL_NO_LOGISTIC),
        (lambda th, x: jax.nn.sigmoid(th["w"] * x) + th["b"], text.HINT_MODEL_BIAS_OUTSIDE),
        (lambda theta, x: jax.nn.sigmoid(theta["w"] * x - theta["b"]), text.HINT_MODEL_BIAS_SIGN),
        (lambda theta, x: None, text.HINT_RETURNS_NONE),
    ],
)
def test_logistic_model_mistakes(fn, hint_text):
    _fails(check_logistic_model, fn, "logistic_model is not right yet", hint_text)


def _mean_loss(theta, model, x, y):
    return -binary_cross_entropy(y, model(theta, x)) / len(y)


def _negated_loss(theta, model, x, y):
    return binary_cross_entropy(y, model(theta, x))


def _swapped_loss(theta, model, x, y):
    return -binary_cross_entropy(model(theta, x), y)


def _one_term_loss(theta, model, x, y):
    return -jnp.sum(y * jnp.log(model(theta, x)))


def _by_name_loss(theta, model, x, y):
    return -binary_cross_entropy(y, dl_workshop.logistic_model(theta, x))


def _log_of_zero_loss(theta, model, x, y):
    p = model(theta, x)
    return -jnp.sum(y * jnp.log(p) + (1 - y) * jnp.log(1 - p) + jnp.log(1 - y))


@pytest.mark.parametrize(
    ("fn", "hint_text"),
    [
        (_mean_loss, text.HINT_LOSS_MEAN),
        (_negated_loss, text.HINT_LOSS_NEGATED),
        (_swapped_loss, text.HINT_LOSS_SWAPPED),
        (_one_term_loss, text.HINT_LOSS_ONE_TERM),
        (_by_name_loss, text.HINT_LOSS_IGNORES_MODEL),
        (_log_of_zero_loss, text.HINT_LOSS_NOT_FINITE),
    ],
)
def test_logistic_loss_mistakes(fn, hint_text):
    _fails(check_logistic_loss, fn, "logistic_loss is not right yet", hint_text)


@pytest.mark.parametrize(
    ("fn", "hint_text"),
    [
        (jax.grad(_negated_loss), text.HINT_LOGISTIC_GRADIENT_SIGN),
        (jax.grad(_mean_loss), "times too small"),
        (_logistic_loss, text.HINT_LOGISTIC_GRADIENT_VALUE),
    ],
)
def test_dlogistic_loss_mistakes(fn, hint_text):
    _fails(check_dlogistic_loss, fn, "dlogistic_loss is not right yet", hint_text)


@pytest.mark.parametrize("seed", [*range(0, 300, 3), 1012, 1063, 1070])
def test_one_step_too_many_or_too_few_fails_for_any_inputs(seed):
    # Seeds 1012, 1063 and 1070 once drew runs that had reached the minimum, where one step
    # more changed nothing and the loop passed.
    for wrong in (_one_too_many, _one_too_few):
        with pytest.raises(ExerciseError, match="step"):
            check_descend(wrong, seed=seed)


def test_a_failure_s_seed_repeats_it():
    error = _fails(check_descend, _one_too_many)
    with pytest.raises(ExerciseError) as again:
        check_descend(_one_too_many, seed=error.seed)
    assert str(again.value) == str(error)


def test_the_new_exercises_are_registered_with_hints_and_solutions():
    names = {entry.name: entry.lesson for entry in exercises()}
    for name in ("f", "df", "descend", "dfdw"):
        assert names[name] == "gradient_optimization"
    for name in ("logistic", "logistic_model", "logistic_loss", "dlogistic_loss"):
        assert names[name] == "logistic_regression"
        assert hint(name).startswith("Hint 1 of ")
    assert solution("dfdw") == "dfdw = grad(f)"
    assert solution("dlogistic_loss") == "dlogistic_loss = grad(logistic_loss)"
    assert "w**2 + 3 * w - 5" in solution("f")
