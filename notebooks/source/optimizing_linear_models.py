# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Optimizing linear models
#
# In this notebook you build, from scratch, everything needed to fit a straight line to data by
# gradient descent: the model, random starting values, the loss, its gradient and the loop that
# improves the parameters step by step. After each exercise a **checker** runs your function on
# fresh random inputs and either confirms it or tells you what looks wrong and why.
#
# Run the cells from top to bottom. If a checker complains, fix your answer and run the answer
# cell and its checker again.
#
# Stuck? `hint("linear_model")` gives a first hint for an exercise, `hint("linear_model", 2)` a
# more specific one, and `solution("linear_model")` shows our answer. `progress()` lists which
# exercises you have passed so far. A checker's message ends with `seed=N`: passing that seed,
# e.g. `check_linear_model(linear_model, seed=N)`, repeats the check on the same inputs.

# %%
# %matplotlib inline
# %config InlineBackend.figure_format = 'retina'

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import numpy.random as npr
from jax import grad

from dl_workshop.teaching.checks import (
    check_dmseloss,
    check_initialize_linear_params,
    check_linear_model,
    check_mseloss,
    check_optimization_loop,
    hint,
    progress,
    solution,
)
from dl_workshop.lesson.data import b_true, make_y, w_true, x

npr.seed(2024)  # so that your random numbers are the same as ours

# %% [markdown]
# ## What are we optimizing?
#
# A straight line has two numbers that decide where it lies: its slope $w$ and its intercept
# $b$. Given points $(x_i, y_i)$ that lie roughly on a line, *fitting* the line means choosing
# $w$ and $b$ so that the predictions $w x_i + b$ come as close as possible to the $y_i$.
#
# "As close as possible" needs a number that says how far off we are. We use the **mean squared
# error**: the average, over all points, of the squared distance between prediction and target.
# It is zero for a perfect fit and grows the worse the line gets. Optimizing the model means
# **minimizing this error by changing $w$ and $b$**. We call the parameters together
# $\theta = (w, b)$.
#
# Seen as a function of $w$ and $b$, the mean squared error of a line is shaped like a bowl:
# every pair $(w, b)$ is a point on the floor, its error is the height, and the best line sits
# at the bottom. Gradient descent finds the bottom by always stepping downhill.

# %% [markdown]
# ## Three ingredients
#
# Every model fitted by gradient descent, from this line to a deep network, needs the same
# three things:
#
# 1. **A model** with parameters: a function that turns inputs $x$ into predictions, given
#    $\theta$. Here: $\hat y = w x + b$.
# 2. **A loss**: a function of the parameters that says how bad the predictions are. Here: the
#    mean squared error.
# 3. **An optimization routine**: a rule that changes the parameters to make the loss smaller.
#    Here: gradient descent, repeated many times.
#
# You will write each of them in JAX, which looks like NumPy (`jnp` instead of `np`) but can
# also differentiate your functions for you.

# %% [markdown]
# ## Exercise 1: the model
#
# Write `linear_model(theta, x)`, which returns the prediction $w x + b$ for every entry of `x`.
#
# * The parameters `theta` come **first**, the data `x` second. (Later, JAX will differentiate
#   with respect to the first argument, so the order matters.)
# * You choose how `theta` holds $w$ and $b$: a dict `{"w": ..., "b": ...}` or a tuple
#   `(w, b)` are both fine. Stick with your choice in the next exercises.

# %% tags=["exercise", "ex-linear_model"]
def linear_model(theta, x):
    # Your code here: read w and b from theta, return the predictions.
    pass


# %% tags=["solution", "ex-linear_model"]
def linear_model(theta, x):
    w, b = theta["w"], theta["b"]
    return w * x + b


# %%
check_linear_model(linear_model)

# %% [markdown]
# ## Exercise 2: starting values
#
# Gradient descent has to start somewhere. Write `initialize_linear_params()`, which takes no
# arguments and returns random starting values for $w$ and $b$, in the structure your
# `linear_model` reads. NumPy's random module is already imported as `npr`; `npr.normal()` draws
# one number from a standard normal distribution.

# %% tags=["exercise", "ex-initialize_linear_params"]
def initialize_linear_params():
    # Your code here: return random w and b, in the form linear_model expects.
    pass


# %% tags=["solution", "ex-initialize_linear_params"]
def initialize_linear_params():
    return {"w": npr.normal(), "b": npr.normal()}


# %%
check_initialize_linear_params(initialize_linear_params, model=linear_model)
theta = initialize_linear_params()
theta

# %% [markdown]
# ## The data
#
# The package provides the lesson's inputs: `x`, 100 evenly spaced points between -5 and 5.
# `make_y` turns them into noisy targets around a line of your choice; we use the slope
# `w_true` and intercept `b_true`. Pick other values if you like: the rest of the notebook
# should then recover yours.

# %%
y = make_y(x, w_true, b_true, seed=0)

fig, ax = plt.subplots(figsize=(5, 3.5))
ax.scatter(x, y, s=10)
ax.plot(x, linear_model(theta, x), color="tab:red", label="the random starting line")
ax.set_xlabel("x")
ax.set_ylabel("y")
ax.legend();

# %% [markdown]
# ## Exercise 3: the loss
#
# Write `mseloss(theta, model, x, y)`, the mean squared error of `model`'s predictions, with
#
# 1. the parameters `theta` first,
# 2. the `model` function second (call it, rather than `linear_model` directly, so the loss
#    works for any model),
# 3. the inputs `x` and 4. the targets `y`,
#
# returning one number. Use `jnp` functions, not `np` ones: JAX can only differentiate
# through its own operations.

# %% tags=["exercise", "ex-mseloss"]
def mseloss(theta, model, x, y):
    # Your code here: predict with model(theta, x), return the mean squared error.
    pass


# %% tags=["solution", "ex-mseloss"]
def mseloss(theta, model, x, y):
    y_pred = model(theta, x)
    return jnp.mean((y - y_pred) ** 2)


# %%
check_mseloss(mseloss)
mseloss(theta, linear_model, x, y)

# %% [markdown]
# ## Exercise 4: the gradient, for free
#
# To walk downhill we need the gradient: how much the loss changes when $w$ or $b$ changes a
# little. You could work it out by hand, but JAX does it for you: `grad(f)` returns a new
# function that computes the gradient of `f` with respect to `f`'s **first** argument.
#
# Create `dmseloss` from `mseloss` with `grad`. It takes the same arguments as `mseloss` and
# returns the gradient in the same structure as `theta`: a dict for a dict, a tuple for a
# tuple. This is a one-liner.

# %% tags=["exercise", "ex-dmseloss"]
dmseloss = None  # Your code here: replace None with the gradient function of mseloss.

# %% tags=["solution", "ex-dmseloss"]
dmseloss = grad(mseloss)

# %%
check_dmseloss(dmseloss)
dmseloss(theta, linear_model, x, y)

# %% [markdown]
# Both entries say which way, and how steeply, the loss rises as $w$ or $b$ grows. Walking
# downhill means moving each parameter a small step in the *opposite* direction. The gradient
# comes back in the container of `theta`: had your model read tuples `(w, b)`, you would get a
# tuple `(dw, db)`.

# %% [markdown]
# ## Exercise 5: the optimization loop
#
# Now put the pieces together. Write
# `model_optimization_loop(theta, model, loss, x, y, n_steps=3000, step_size=0.001)`, which
# repeats `n_steps` times:
#
# 1. record the current loss in a list `losses`,
# 2. compute the gradient of `loss` at the current `theta`,
# 3. replace `theta` by `theta - step_size * gradient` (for each parameter),
#
# and finally returns `losses, theta`.
#
# Watch the sign in step 3: subtracting the gradient goes downhill, adding it climbs. And keep
# the step small: too large a step overshoots the bottom of the bowl, further on every step.
# (`jax.tree_util.tree_map(lambda p, g: p - step_size * g, theta, grads)` updates every
# parameter at once, whatever the container.)

# %% tags=["exercise", "ex-model_optimization_loop"]
def model_optimization_loop(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
    # Your code here: repeat n_steps times: record the loss, compute the gradient, update theta.
    pass


# %% tags=["solution", "ex-model_optimization_loop"]
def model_optimization_loop(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
    dloss = grad(loss)
    losses = []
    for _ in range(n_steps):
        losses.append(float(loss(theta, model, x, y)))
        grads = dloss(theta, model, x, y)
        theta = {name: theta[name] - step_size * grads[name] for name in theta}
    return losses, theta


# %%
check_optimization_loop(model_optimization_loop)

# %% [markdown]
# Run it on the data. With a step size of 0.05, 150 steps are plenty here; with the default
# 0.001 you would need tens of thousands. (Why not a step even larger? See "When the step is too
# large" at the end.)

# %%
losses, theta = model_optimization_loop(
    theta, linear_model, mseloss, x, y, n_steps=150, step_size=0.05
)

# %% [markdown]
# ## Did it work?
#
# The loss should fall quickly at first and then level off near the noise in the data (the
# noise has variance 1, so about 1 is as low as a straight line can get). On a log scale the
# slow final approach is easier to see.

# %%
from dl_workshop.teaching.plots import plot_fit, plot_loss

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
plot_loss(losses, ax=left)
plot_loss(losses, ax=right, log_scale=True);

# %% [markdown]
# Now compare the fitted parameters with the line the data came from, and with the exact
# least-squares answer that `numpy.linalg.lstsq` computes in one go. (With noisy data the
# fitted line matches the least-squares one, not exactly the true line.)

# %%
exact_w, exact_b = np.linalg.lstsq(np.column_stack([x, np.ones_like(x)]), y, rcond=None)[0]
print(f"fitted:        w = {float(theta['w']):.3f}, b = {float(theta['b']):.3f}")
print(f"least squares: w = {exact_w:.3f}, b = {exact_b:.3f}")
print(f"true line:     w = {w_true:.3f}, b = {b_true:.3f}")
plot_fit(theta, x, y);

# %% [markdown]
# ## Summary
#
# * The **model** `linear_model(theta, x)` maps inputs to predictions; its parameters
#   $\theta = (w, b)$ are what we optimize.
# * The **loss** `mseloss(theta, model, x, y)` says how wrong the predictions are, and
#   `grad(mseloss)` says how to change $\theta$ to make it smaller.
# * The **optimization routine** is a plain loop: step against the gradient, again and again.
#
# The same three ingredients, with a bigger model, are how neural networks are trained. Where
# do you stand?

# %%
progress()

# %% [markdown]
# ## Linear regression in pictures
#
# ### Matrix form
#
# With one input, the model is $\hat y = w x + b$ for each point. Stacking the $n$ points as a
# column turns this into matrix arithmetic: an $n \times 1$ column of inputs times a
# $1 \times 1$ "matrix" $w$, plus $b$, gives an $n \times 1$ column of predictions. Here is your
# fitted model drawn that way, with its values:

# %%
from dl_workshop.teaching.diagrams import draw_matrix_form, draw_neural_diagram

draw_matrix_form(theta, n_samples=len(x), annotate=True);

# %% [markdown]
# Nothing forces one input and one output. With $d_\text{in}$ input features per sample and
# $d_\text{out}$ outputs, $X$ is $n \times d_\text{in}$, $w$ is $d_\text{in} \times d_\text{out}$
# and $b$ has $d_\text{out}$ entries; $\hat Y = X w + b$ is $n \times d_\text{out}$. Statisticians
# call this multiple (or multivariate) linear regression; it is the same idea with bigger
# boxes. Here are three inputs and two outputs:

# %%
draw_matrix_form((3, 2), n_samples=100);

# %% [markdown]
# ### Neural diagram
#
# The same model drawn as a network: each input is a node, each weight an edge into a weighted
# sum, the bias comes from a constant 1, and the sum passes through an activation, here the
# identity (orange), which leaves it unchanged. Swap the identity for a non-linear function
# and stack several such layers, and you have a neural network: linear regression is its
# simplest case, and the diagram is also the computation graph from inputs to outputs.

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
draw_neural_diagram(theta, ax=left)
draw_neural_diagram((4, 3), ax=right);

# %% [markdown]
# ## Going further
#
# ### Several inputs and outputs
#
# **Exercise 6.** Write `linear_model_matrix(theta, x)` for the matrix form: `x` of shape
# `(n, d_in)`, `w` of shape `(d_in, d_out)`, `b` of shape `(d_out,)`, predictions of shape
# `(n, d_out)`. Elementwise `w * x` no longer fits the shapes: each prediction is a sum over the
# inputs, a matrix product (`@`). Which operand comes first?

# %% tags=["exercise", "ex-linear_model_matrix"]
def linear_model_matrix(theta, x):
    # Your code here: the matrix form of the model.
    pass


# %% tags=["solution", "ex-linear_model_matrix"]
def linear_model_matrix(theta, x):
    return x @ theta["w"] + theta["b"]


# %%
check_linear_model(linear_model_matrix, form="matrix")

# %% [markdown]
# Your model and your loss plug straight into the package's compiled engine,
# `dl_workshop.fit`, which runs the same gradient-descent steps as your loop but compiled with
# `jax.jit`, so thousands of steps take a moment. Let us fit three inputs and two outputs and
# check the result against least squares.

# %%
from dl_workshop import fit, initialize_linear_params as init_params

X = npr.uniform(-2, 2, size=(200, 3))
W_true = np.array([[1.0, -2.0], [0.5, 0.0], [-1.5, 3.0]])
B_true = np.array([4.0, -1.0])
Y = make_y(X, W_true, B_true, noise=0.1, seed=1)

result = fit(init_params(3, 2, seed=0), linear_model_matrix, mseloss, X, Y,
             n_steps=300, step_size=0.3, progress=False)
exact = np.linalg.lstsq(np.column_stack([X, np.ones(len(X))]), Y, rcond=None)[0]
print("fitted w:\n", np.round(result.theta["w"], 3))
print("least-squares w:\n", np.round(exact[:3], 3))
print("fitted b:", np.round(result.theta["b"], 3), " least-squares b:", np.round(exact[3], 3))
draw_matrix_form(result.theta, n_samples=len(X), annotate=True);

# %% [markdown]
# ### An optax optimizer
#
# Plain gradient descent uses one step size for every parameter, and the largest safe step is
# set by the steepest direction of the bowl: here $w$, whose inputs spread from -5 to 5, while
# $b$ is only multiplied by 1. Along the flatter $b$ direction the same step moves more
# slowly. Optimizers from the [optax](https://optax.readthedocs.io) library change the rule,
# e.g. Adam scales each parameter's step separately; `fit` takes any of them. On a small,
# well-behaved bowl like this one, plain gradient descent with a well-chosen step is hard to
# beat, as the curves show; adaptive optimizers earn their keep on badly scaled problems, where
# no single step size suits every direction. (`record_every` keeps the parameters along the way,
# for the pictures below.)

# %%
import optax

start = {"w": -4.0, "b": -5.0}
runs = {
    "gradient descent": fit(start, linear_model, mseloss, x, y, n_steps=300,
                            step_size=0.05, record_every=5, progress=False),
    "adam": fit(start, linear_model, mseloss, x, y, n_steps=300,
                optimizer=optax.adam(0.5), record_every=5, progress=False),
}
ax = None
for label, run in runs.items():
    ax = plot_loss(run.losses, ax=ax, log_scale=True)
    ax.get_lines()[-1].set_label(label)
    ax.get_lines()[-1].set_color(f"C{len(ax.get_lines()) - 1}")
ax.legend();

# %% [markdown]
# ### The bowl, and the path down it
#
# Finally, the picture from the start: the loss over all $(w, b)$, with the path gradient
# descent took from its start (circle) to its end (square); the star is the least-squares
# optimum. The path first runs down the steep walls, then along the flat valley floor.

# %%
fig = plt.figure(figsize=(11, 4.5))
from dl_workshop.teaching.plots import plot_loss_landscape, plot_optimizer_paths

plot_loss_landscape(x, y, path=runs["gradient descent"], ax=fig.add_subplot(1, 2, 1))
plot_loss_landscape(x, y, path=runs["gradient descent"], surface=True,
                    ax=fig.add_subplot(1, 2, 2, projection="3d"));

# %% [markdown]
# And both optimizers on one bowl: gradient descent settles $w$ within a few steps, then walks
# along $b$; Adam, scaling each parameter's step by its own recent gradients, takes a
# winding route of similar-sized steps in both directions.

# %%
plot_optimizer_paths(x, y, runs);

# %% [markdown]
# ### When the step is too large
#
# Gradient descent on this bowl is stable only for step sizes below $2/L$, where $L$ is the
# bowl's steepest curvature. Try a step that is too large: `fit` notices the divergence, stops,
# and tells you a step size that works.

# %%
from dl_workshop import DivergenceError

try:
    fit(start, linear_model, mseloss, x, y, n_steps=300, step_size=0.5, progress=False)
except DivergenceError as error:
    print(error)
    print("suggested step size:", round(error.suggested_step_size, 4))
