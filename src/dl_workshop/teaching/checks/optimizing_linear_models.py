"""The exercises of the lesson "Optimizing linear models", with the hints a learner can ask for.

Importing this module registers them (:func:`~dl_workshop.teaching.checks.registry.register`); their
solutions and stubs come from the lesson's notebook source
(:mod:`~dl_workshop.teaching.checks.solution_sources`).
"""

from __future__ import annotations

import functools

from dl_workshop.teaching.checks.exercise_dmseloss import check_dmseloss
from dl_workshop.teaching.checks.exercise_init import check_initialize_linear_params
from dl_workshop.teaching.checks.exercise_linear_model import check_linear_model
from dl_workshop.teaching.checks.exercise_loop import check_optimization_loop
from dl_workshop.teaching.checks.exercise_mseloss import check_mseloss
from dl_workshop.teaching.checks.registry import Exercise, register

LESSON = "optimizing_linear_models"

# Hints from gentle (where to start) to specific (nearly the line to write).

HINTS_LINEAR_MODEL = (
    "The model is the equation of a line: for every x the prediction is w times x plus b. "
    "Read w and b out of theta first.",
    "With a dict, w = theta['w'] and b = theta['b']; with a tuple, w, b = theta. Then compute "
    "every prediction at once: w * x works on the whole array x.",
    "return w * x + b: no loop, no sum, no np.* call; the result has the shape of x.",
)
HINTS_INITIALIZE = (
    "Starting values are just random numbers, one for w and one for b, in the structure your "
    "linear_model reads.",
    "npr.normal() draws one random float: return {'w': npr.normal(), 'b': npr.normal()} for a "
    "model that reads a dict, or (npr.normal(), npr.normal()) for one that reads a tuple. "
    "Draw them inside the function and do not seed there.",
)
HINTS_MSELOSS = (
    "Predict first, with the model you are given: y_pred = model(theta, x). The loss says how "
    "far y_pred is from y, as one number.",
    "The mean squared error squares each error and then averages: (y - y_pred) ** 2, then "
    "jnp.mean of that.",
    "return jnp.mean((y - model(theta, x)) ** 2), with jnp rather than np so that JAX can "
    "differentiate it.",
)
HINTS_DMSELOSS = (
    "You do not work the gradient out by hand: JAX's grad turns a function into the function "
    "that computes its gradient.",
    "grad(mseloss) is a new function with mseloss's arguments that returns the gradient with "
    "respect to theta, the first one. Assign it, do not call it: dmseloss = grad(mseloss).",
)
HINTS_LOOP = (
    "Inside `for step in range(n_steps):` do three things, in this order: record the loss of "
    "the current theta, compute the gradient at the current theta, step against it.",
    "dloss = grad(loss) before the loop; in it, grads = dloss(theta, model, x, y) and every "
    "parameter becomes itself minus step_size times its own gradient, e.g. "
    "theta = {k: theta[k] - step_size * grads[k] for k in theta}.",
    "Append float(loss(theta, model, x, y)) to losses before updating, update w and b with the "
    "same step_size, and write `return losses, theta` after the loop, not inside it.",
)
HINTS_LINEAR_MODEL_MATRIX = (
    "x has one row per sample and one column per input; w has one row per input and one "
    "column per output. Which matrix product of x and w gives one row per sample?",
    "x @ w has shape (n, d_in) @ (d_in, d_out) = (n, d_out), and adding b (shape (d_out,)) "
    "adds it to every row: return x @ theta['w'] + theta['b'].",
)

register(
    Exercise("linear_model", LESSON, check_linear_model, HINTS_LINEAR_MODEL),
    Exercise(
        "initialize_linear_params",
        LESSON,
        check_initialize_linear_params,
        HINTS_INITIALIZE,
        # As in the notebook: the parameters must fit the learner's model, once that passed.
        uses=(("model", "linear_model"),),
    ),
    Exercise("mseloss", LESSON, check_mseloss, HINTS_MSELOSS),
    Exercise("dmseloss", LESSON, check_dmseloss, HINTS_DMSELOSS),
    Exercise("model_optimization_loop", LESSON, check_optimization_loop, HINTS_LOOP),
    Exercise(
        "linear_model_matrix",
        LESSON,
        functools.partial(check_linear_model, form="matrix"),
        HINTS_LINEAR_MODEL_MATRIX,
    ),
)
