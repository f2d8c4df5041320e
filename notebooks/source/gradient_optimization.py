# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Gradient-based optimization
#
# Fitting a line means finding the parameters where the loss is lowest. Before doing that for
# two parameters at once (the next lesson, "Optimizing linear models"), this notebook takes
# the idea apart on the smallest example there is: one number $w$ and a polynomial $f(w)$
# whose lowest point you can also find with pen and paper. You will
#
# 1. write $f$ and its derivative by hand,
# 2. walk downhill with **gradient descent**, step by step,
# 3. let JAX compute the derivative for you with `grad`,
#
# and finally move the two parameters of a line yourself, with sliders, to see the same
# ideas in two dimensions. After each exercise a **checker** tells you whether your function
# is right and, if not, what the likely mistake is.
#
# Stuck? `hint("f")` gives a first hint for an exercise, `hint("f", 2)` a more specific one,
# and `solution("f")` shows our answer. `progress()` lists what you have passed so far.

# %%
# %matplotlib inline
# %config InlineBackend.figure_format = 'retina'

# %%
import jax
import matplotlib.pyplot as plt
import numpy as np
from jax import grad

from dl_workshop.teaching.checks import (
    check_descend,
    check_df,
    check_dfdw,
    check_f,
    hint,
    progress,
    solution,
)

# %% [markdown]
# ## A function to minimize
#
# Our function is the parabola
#
# $$f(w) = w^2 + 3w - 5.$$
#
# Think of $f$ as a loss and of $w$ as the one parameter of a model: we look for the $w$ that
# makes $f(w)$ as small as possible.
#
# ## Exercise 1: the function
#
# Write `f(w)`. Use plain arithmetic (`**` is Python's power; `^` is something else), so that
# the same code works for one number and, element by element, for a whole array of them.

# %% tags=["exercise", "ex-f"]
def f(w):
    # Your code here: return w squared, plus 3 times w, minus 5.
    pass


# %% tags=["solution", "ex-f"]
def f(w):
    return w**2 + 3 * w - 5


# %%
check_f(f)
f(2.5)

# %% [markdown]
# Here is what it looks like: a valley with its bottom somewhere left of zero.

# %%
ws = np.linspace(-6.0, 3.0, 200)
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.plot(ws, f(ws))
ax.set_xlabel("w")
ax.set_ylabel("f(w)")
ax.grid(True, alpha=0.3);

# %% [markdown]
# ## The slope, by hand
#
# The **derivative** $f'(w)$ is the slope of $f$ at $w$: how much $f$ changes per small
# change of $w$. Term by term, $w^2$ has slope $2w$, $3w$ has slope $3$ and the constant $-5$
# has none, so
#
# $$f'(w) = 2w + 3.$$
#
# At the bottom of the valley the slope is zero: $2w + 3 = 0$ gives $w = -3/2 = -1.5$. (The
# second derivative, $f''(w) = 2$, is positive everywhere: the curve bends upwards, so this
# flat point is a minimum, not a maximum.) The lowest value is $f(-1.5) = -7.25$.
#
# ## Exercise 2: the derivative
#
# Write `df(w)`, the derivative you just worked out.

# %% tags=["exercise", "ex-df"]
def df(w):
    # Your code here: return the slope of f at w.
    pass


# %% tags=["solution", "ex-df"]
def df(w):
    return 2 * w + 3


# %%
check_df(df)
df(2.5)

# %% [markdown]
# ## Walking downhill
#
# Solving $f'(w) = 0$ on paper works for a parabola, not for a neural network with millions of
# parameters. What always works is to follow the slope: where $f'(w)$ is positive, $f$ rises to
# the right, so step left; where it is negative, step right. With a **step size** $\eta$,
#
# $$w \leftarrow w - \eta\, f'(w),$$
#
# repeated many times. That is **gradient descent**, the optimization routine behind the rest
# of this chapter.
#
# ## Exercise 3: gradient descent
#
# Write `descend(df, w, step_size=0.01, n_steps=1000)`: starting from `w`, take `n_steps`
# steps `w = w - step_size * df(w)` and return the final `w`. Use the gradient function `df`
# it is given (not a global one): the same loop then minimizes any function whose slope you
# can compute.

# %% tags=["exercise", "ex-descend"]
def descend(df, w, step_size=0.01, n_steps=1000):
    # Your code here: n_steps times, step w against the slope df(w); then return w.
    pass


# %% tags=["solution", "ex-descend"]
def descend(df, w, step_size=0.01, n_steps=1000):
    for _ in range(n_steps):
        w = w - step_size * df(w)
    return w


# %%
check_descend(descend)

# %%
w_end = descend(df, 10.0)
print(f"from w = 10, after 1000 steps: w = {w_end:.4f} (the minimum is at w = -1.5)")

# %% [markdown]
# ### How big a step?
#
# Each step here moves $w$ a fixed fraction of the way to the minimum: the distance to $-1.5$
# is multiplied by $1 - 2\eta$. A small step crawls; $\eta = 0.5$ lands on the minimum in one
# step; between 0.5 and 1 every step overshoots, and the path zig-zags in; above 1 every
# overshoot is larger than the last, and the path flies off. The largest stable step is set by
# the curvature of $f$ ($f'' = 2$, so $\eta < 2/2 = 1$), a rule that holds for every loss
# shaped like a bowl.

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
for step_size in (0.05, 0.5, 0.9, 1.05):
    path = [10.0]
    for _ in range(20):
        path.append(path[-1] - step_size * df(path[-1]))
    ax.plot(path, marker=".", label=f"step size {step_size}")
ax.axhline(-1.5, color="black", linewidth=0.8, linestyle="--")
ax.set_ylim(-15, 15)
ax.set_xlabel("step")
ax.set_ylabel("w")
ax.legend(fontsize="small");

# %% [markdown]
# ## Let JAX do the calculus
#
# Working out derivatives by hand gets tedious quickly, and error-prone. JAX's `grad` takes a
# Python function and returns a new function that computes its derivative, by applying the
# chain rule to every operation `f` performs (**automatic differentiation**).
#
# ## Exercise 4: the derivative, for free
#
# Create `dfdw` from `f` with `grad`. It is a one-liner.

# %% tags=["exercise", "ex-dfdw"]
dfdw = None  # Your code here: replace None with the gradient function of f.

# %% tags=["solution", "ex-dfdw"]
dfdw = grad(f)

# %%
check_dfdw(dfdw)
print("by hand:", df(2.5), "  by JAX:", float(dfdw(2.5)))

# %% [markdown]
# Your `descend` takes it as it is: nothing in the loop knew the derivative was hand-written.

# %%
w_end = descend(dfdw, -10.0)
print(f"from w = -10, with grad(f): w = {float(w_end):.4f}")

# %% [markdown]
# ### The same loop, compiled
#
# A Python loop of a thousand small JAX calls is slow. The package's engine runs the same steps
# compiled (with `jax.jit`), records the path, and checks that the loss stays finite:
# `fit_objective` takes an objective that returns the loss and its gradient.

# %%
from dl_workshop import fit_objective


def objective(w, step, data):
    return jax.value_and_grad(f)(w)


result = fit_objective(objective, 10.0, (), n_steps=1000, step_size=0.01, record_every=10,
                       progress=False)
print(f"compiled: w = {float(result.theta):.4f}, f(w) = {float(result.losses[-1]):.4f}")
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.plot(ws, f(ws), color="0.6")
ax.plot(result.path, f(result.path), marker=".", color="tab:red", label="the path")
ax.set_xlabel("w")
ax.set_ylabel("f(w)")
ax.legend();

# %% [markdown]
# ## Two parameters: a line
#
# A line has two parameters, slope $w$ and intercept $b$, and its mean squared error over the
# data is a function of both: a bowl over the $(w, b)$ plane instead of a valley over a line.
# Move the sliders to fit the line to the data by hand: the red segments are the residuals,
# the title shows the error, and on the right the point $(w, b)$ moves over the bowl towards
# its bottom (the star, the least-squares line). (The sliders need a live notebook.)

# %%
from dl_workshop.lesson.data import b_true, make_y, w_true, x
from dl_workshop.teaching.widgets import explore_line, explore_step_size

y = make_y(x, w_true, b_true, seed=0)
explore_line(x, y)

# %% [markdown]
# Gradient descent does the same walk for you, on both parameters at once. Here it runs
# compiled on every change: try a tiny step, a good one, one that zig-zags across the bowl,
# and one so large that the fit diverges. The bowl is redrawn around every run, so you see
# the overshoot; a path that runs off the view ends in an arrow, and the message under the
# figure suggests a step size that works. Compare plain gradient descent with momentum and
# Adam. (If moving a slider redraws nothing, for example after a kernel restart, run the
# cell again.)

# %%
explore_step_size(x, y)

# %% [markdown]
# ## Summary
#
# * The derivative is the slope of a function; at a minimum it is zero.
# * **Gradient descent** steps against the slope, again and again; the step size must suit
#   the curvature, or the steps overshoot.
# * `grad(f)` computes derivatives for you, for any function written in JAX operations.
#
# Next, "Optimizing linear models" builds the line's model, its loss and the loop yourself.

# %%
progress("gradient_optimization")
