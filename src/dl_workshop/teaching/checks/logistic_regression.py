"""The exercises of the lesson "Logistic regression", with the hints a learner can ask for.

Importing this module registers them (:func:`~dl_workshop.teaching.checks.registry.register`); their
solutions and stubs come from the lesson's notebook source
(:mod:`~dl_workshop.teaching.checks.solution_sources`).
"""

from __future__ import annotations

from dl_workshop.teaching.checks.exercise_logistic import (
    check_dlogistic_loss,
    check_logistic,
    check_logistic_loss,
    check_logistic_model,
)
from dl_workshop.teaching.checks.registry import Exercise, register

LESSON = "logistic_regression"

# Hints from gentle (where to start) to specific (nearly the line to write).

HINTS_LOGISTIC = (
    "The logistic function squashes any number into (0, 1): large negative z gives nearly 0, "
    "z = 0 gives 0.5, large positive z nearly 1.",
    "return 1 / (1 + jnp.exp(-z)), with jnp so that it works on arrays and JAX can "
    "differentiate it.",
)
HINTS_LOGISTIC_MODEL = (
    "Logistic regression is the linear model with a logistic activation: compute w * x + b, "
    "then squash it.",
    "w, b = theta['w'], theta['b']; return logistic(w * x + b).",
)
HINTS_LOGISTIC_LOSS = (
    "Predict probabilities with the model you are given, p = model(theta, x). A label 1 "
    "should have p near 1 and a label 0 p near 0; the loss adds up how far each is off, in "
    "logs.",
    "The log-likelihood is sum(y log p + (1 - y) log(1 - p)); the loss is its negative, summed "
    "(not averaged) over the points.",
    "return -binary_cross_entropy(y, model(theta, x)), or write the sum with jnp.sum and "
    "jnp.log.",
)
HINTS_DLOGISTIC_LOSS = (
    "As for mseloss: you do not work the gradient out by hand.",
    "dlogistic_loss = grad(logistic_loss): assign it, do not call it.",
)

register(
    Exercise("logistic", LESSON, check_logistic, HINTS_LOGISTIC),
    Exercise("logistic_model", LESSON, check_logistic_model, HINTS_LOGISTIC_MODEL),
    Exercise("logistic_loss", LESSON, check_logistic_loss, HINTS_LOGISTIC_LOSS),
    Exercise("dlogistic_loss", LESSON, check_dlogistic_loss, HINTS_DLOGISTIC_LOSS),
)
