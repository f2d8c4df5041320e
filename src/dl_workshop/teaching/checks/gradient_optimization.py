"""The exercises of the lesson "Gradient-based optimization" (minimizing ``f(w)``), with the
hints a learner can ask for.

Importing this module registers them (:func:`~dl_workshop.teaching.checks.registry.register`); their
solutions and stubs come from the lesson's notebook source
(:mod:`~dl_workshop.teaching.checks.solution_sources`).
"""

from __future__ import annotations

from dl_workshop.teaching.checks.exercise_polynomial import (
    check_descend,
    check_df,
    check_dfdw,
    check_f,
)
from dl_workshop.teaching.checks.registry import Exercise, register

LESSON = "gradient_optimization"

# Hints from gentle (where to start) to specific (nearly the line to write).

HINTS_F = (
    "f takes one number w and returns one number: the polynomial w squared plus three w "
    "minus five.",
    "In Python the power is **, not ^: return w ** 2 + 3 * w - 5.",
)
HINTS_DF = (
    "Differentiate term by term: the slope of w ** 2, of 3 * w and of the constant -5.",
    "w ** 2 gives 2 * w, 3 * w gives 3 and -5 gives 0: return 2 * w + 3.",
)
HINTS_DESCEND = (
    "Repeat n_steps times: look at the slope df(w) where you are, and take a small step the "
    "other way (downhill).",
    "for _ in range(n_steps): w = w - step_size * df(w); after the loop, return w. Use the df "
    "and step_size you are given, not the global ones.",
)
HINTS_DFDW = (
    "JAX's grad turns a function of one number into the function that computes its slope.",
    "dfdw = grad(f): assign the function, do not call it (grad(f)(w) would be one number).",
)

register(
    Exercise("f", LESSON, check_f, HINTS_F),
    Exercise("df", LESSON, check_df, HINTS_DF),
    Exercise("descend", LESSON, check_descend, HINTS_DESCEND),
    Exercise("dfdw", LESSON, check_dfdw, HINTS_DFDW),
)
