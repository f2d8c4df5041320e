# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Logistic regression
#
# Linear regression predicts a number. Often we want a decision instead: is this email spam,
# does this compound break down in the environment, will this patient respond? The answer is
# one of two **classes**, labelled 0 and 1. **Logistic regression** predicts the probability
# that the label is 1, and it is built from parts you already have:
#
# 1. **the model**: the linear model $w x + b$, passed through the *logistic* function, which
#    squashes any number into a probability between 0 and 1;
# 2. **the loss**: how unlikely the observed labels are under the predicted probabilities;
# 3. **the optimization routine**: the same gradient descent as before.
#
# After each exercise a **checker** tells you whether your function is right and, if not,
# what the likely mistake is. Stuck? `hint("logistic")` gives a first hint, `hint("logistic",
# 2)` a more specific one, and `solution("logistic")` shows our answer.

# %%
# %matplotlib inline
# %config InlineBackend.figure_format = 'retina'

# %%
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import numpy.random as npr
from jax import grad

from dl_workshop import binary_cross_entropy, initialize_linear_params, noise
from dl_workshop.teaching.checks import (
    check_dlogistic_loss,
    check_logistic,
    check_logistic_loss,
    check_logistic_model,
    hint,
    progress,
    solution,
)

npr.seed(2024)  # so that your random numbers are the same as ours

# %% [markdown]
# ## Exercise 1: the logistic function
#
# The logistic (or sigmoid) function
#
# $$\sigma(z) = \frac{1}{1 + e^{-z}}$$
#
# turns any number $z$ into a number between 0 and 1: very negative $z$ give nearly 0,
# $z = 0$ gives exactly $1/2$, very positive $z$ nearly 1. Write `logistic(z)` with `jnp`, so
# that it works on arrays and JAX can differentiate it.

# %% tags=["exercise", "ex-logistic"]
def logistic(z):
    # Your code here: squash z into (0, 1).
    pass


# %% tags=["solution", "ex-logistic"]
def logistic(z):
    return 1 / (1 + jnp.exp(-z))


# %%
check_logistic(logistic)

# %% [markdown]
# Applied to a line $z = w x + b$, it gives an S-shaped curve. $w$ sets how steep the step from
# 0 to 1 is (and, with its sign, which way it goes); $b$ shifts it. The curve crosses $1/2$
# where $w x + b = 0$, at $x = -b / w$: points on one side are more likely 1, on the other
# more likely 0. That point is the model's **decision boundary**.

# %%
grid = np.linspace(-6, 6, 300)
fig, ax = plt.subplots(figsize=(6, 3.5))
for w, b in [(1.0, 0.0), (3.0, 0.0), (1.0, 2.0), (-1.0, 0.0)]:
    ax.plot(grid, logistic(w * grid + b), label=f"w = {w:g}, b = {b:g}")
ax.axhline(0.5, color="0.5", linewidth=0.8, linestyle="--")
ax.set_xlabel("x")
ax.set_ylabel("logistic(w x + b)")
ax.legend(fontsize="small");

# %% [markdown]
# ## Data with two classes
#
# We draw labels from a noisy line: $z = 2x + 1$ plus Gaussian noise, and the label is 1 where
# the logistic of $z$ is above one half (where $z > 0$). Near the boundary $x = -0.5$ the
# noise mixes the classes; far from it they are clean.

# %%
x = np.linspace(-5, 5, 100)
w_true, b_true = 2.0, 1.0
z = w_true * x + b_true + noise(len(x))
y = (np.asarray(logistic(z)) > 0.5).astype(int)

fig, ax = plt.subplots(figsize=(6, 3))
ax.scatter(x, y, alpha=0.4)
ax.set_xlabel("x")
ax.set_ylabel("label");

# %% [markdown]
# ## Exercise 2: the model
#
# Write `logistic_model(theta, x)`: the probability of label 1 for every entry of `x`, the
# logistic of the linear model. As before, the parameters come first; `theta` is a dict
# `{"w": ..., "b": ...}`.

# %% tags=["exercise", "ex-logistic_model"]
def logistic_model(theta, x):
    # Your code here: the linear model's predictions, passed through logistic.
    pass


# %% tags=["solution", "ex-logistic_model"]
def logistic_model(theta, x):
    return logistic(theta["w"] * x + theta["b"])


# %%
check_logistic_model(logistic_model)

# %% [markdown]
# ## The loss: how unlikely are the labels?
#
# If the model says $p$ is the probability of label 1, the probability of what we observed is
# $p$ for a point labelled 1 and $1 - p$ for a point labelled 0; in one formula,
# $p^y (1-p)^{1-y}$. Over all points (independent) these multiply, and their logarithm adds:
#
# $$\log L = \sum_i y_i \log p_i + (1 - y_i) \log(1 - p_i).$$
#
# This **log-likelihood** (the Bernoulli distribution's) is 0 for certain, correct predictions
# and more negative the worse they are; its negative is the **logistic loss**, also called the
# binary cross-entropy loss, which we minimize. We sum over the points rather than average: the
# chapter's step sizes (0.0001) are chosen for the sum.
#
# Think about it: for a point labelled 1, which term counts, and what does it cost when
# $p \approx 1$? When $p \approx 0$?
#
# The package gives you `binary_cross_entropy(y_true, y_pred)`, the log-likelihood above:

# %%
binary_cross_entropy(np.array([1, 0]), np.array([0.9, 0.2]))

# %% [markdown]
# ## Exercise 3: the loss
#
# Write `logistic_loss(theta, model, x, y)`: the negative log-likelihood of the labels `y`
# under the probabilities `model(theta, x)`. Use the `model` argument (not `logistic_model` by
# name), so the loss works for any model that returns probabilities.

# %% tags=["exercise", "ex-logistic_loss"]
def logistic_loss(theta, model, x, y):
    # Your code here: predict probabilities with model(theta, x); return the negative
    # log-likelihood of y, summed over the points.
    pass


# %% tags=["solution", "ex-logistic_loss"]
def logistic_loss(theta, model, x, y):
    return -binary_cross_entropy(y, model(theta, x))


# %%
check_logistic_loss(logistic_loss)

# %% [markdown]
# ## Exercise 4: its gradient
#
# As for the mean squared error, JAX gives you the gradient: create `dlogistic_loss` from
# `logistic_loss` with `grad`.

# %% tags=["exercise", "ex-dlogistic_loss"]
dlogistic_loss = None  # Your code here: replace None with the gradient function.

# %% tags=["solution", "ex-dlogistic_loss"]
dlogistic_loss = grad(logistic_loss)

# %%
check_dlogistic_loss(dlogistic_loss)
theta = initialize_linear_params()
dlogistic_loss(theta, logistic_model, x, y)

# %% [markdown]
# ## The same loop
#
# The parameters are those of the line, so `initialize_linear_params` starts them, and the
# optimization loop is the one of the linear model, now with your logistic model and loss:
# only the ingredients changed. The package's `model_optimization_loop` runs it compiled, so
# the chapter's 5000 steps of size 0.0001 take a moment.

# %%
from dl_workshop import model_optimization_loop
from dl_workshop.teaching.plots import plot_loss

losses, theta = model_optimization_loop(
    theta, logistic_model, logistic_loss, x, y, n_steps=5000, step_size=0.0001, progress=False
)
w_fit, b_fit = float(theta["w"]), float(theta["b"])
print(f"fitted:    w = {w_fit:.3f}, b = {b_fit:.3f}, boundary at x = {-b_fit / w_fit:.3f}")
print(f"true line: w = {w_true:.3f}, b = {b_true:.3f}, boundary at x = {-b_true / w_true:.3f}")

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5))
plot_loss(losses, ax=left, log_scale=True)
left.set_ylabel("logistic loss")
right.scatter(x, y, alpha=0.4, label="labels")
right.plot(x, logistic_model(theta, x), color="tab:red", label="fitted probability")
right.axvline(-b_fit / w_fit, color="tab:red", linestyle="--", label="decision boundary")
right.set_xlabel("x")
right.legend(loc="center right", fontsize="small");

# %% [markdown]
# The boundary lands close to the true one, but $w$ and $b$ need not match the line the data
# came from: the labels keep only the *sign* of $z$, so the steepness of the curve is learned
# from the few mixed points near the boundary, and the noise we added decides how steep the
# data "looks". Try it without noise: the classes then separate perfectly, and the longer you
# optimize the steeper the curve gets (the likelihood keeps improving as $w$ grows).
#
# ## The decision boundary in two dimensions
#
# With two input features the model is the matrix form, $\sigma(X w + b)$ with $w$ of two
# entries, and the boundary $X w + b = 0$ is a straight line through the plane. Your logistic
# function and loss work unchanged; only the model needs `x @ w` for the matrix product.

# %%
from dl_workshop import fit


def logistic_model_2d(theta, x):
    return logistic(x @ theta["w"] + theta["b"])


X = npr.normal(size=(200, 2)) * 2
W_true, B_true = np.array([1.5, -2.0]), 0.5
Y = (X @ W_true + B_true + noise(200) > 0).astype(int)
result = fit(initialize_linear_params(2, seed=0), logistic_model_2d, logistic_loss, X, Y,
             n_steps=3000, step_size=0.001, progress=False)

g1, g2 = np.meshgrid(np.linspace(-6, 6, 120), np.linspace(-6, 6, 120))
points = np.column_stack([g1.ravel(), g2.ravel()])
probability = np.asarray(logistic_model_2d(result.theta, points))
fig, ax = plt.subplots(figsize=(5.5, 4.5))
filled = ax.contourf(g1, g2, probability.reshape(g1.shape), levels=np.linspace(0, 1, 11),
                     cmap="RdBu_r", alpha=0.5)
ax.contour(g1, g2, probability.reshape(g1.shape), levels=[0.5], colors="black")
ax.scatter(X[:, 0], X[:, 1], c=Y, cmap="RdBu_r", edgecolors="white", s=25)
line = np.linspace(-6, 6, 2)
ax.plot(line, -(W_true[0] * line + B_true) / W_true[1], color="0.3", linestyle="--",
        label="true boundary")
ax.set_xlim(-6, 6)
ax.set_ylim(-6, 6)
ax.set_xlabel("$x_1$")
ax.set_ylabel("$x_2$")
ax.legend(loc="lower right", fontsize="small")
fig.colorbar(filled, ax=ax, label="probability of label 1");

# %% [markdown]
# The solid line is where the fitted model says "50 : 50"; the shading shows how sure it is
# elsewhere. The dashed line is the boundary the labels came from.
#
# ## How large a step?
#
# The summed loss grows steeper with every point added, so the largest stable step shrinks as
# the data grow: that is why the chapter's step sizes are small. Explore it: every change
# reruns the compiled fit of your model and loss. Near the start the bowl is steepest, so a
# large step can overshoot once and still recover; a step that is too large overshoots so far
# that the probabilities reach exactly 0 or 1 and the loss's gradient stops being a number
# (see the next section). The message under the figure says which, and which step size works.
# (The sliders need a live notebook; if moving one redraws nothing, for example after a kernel
# restart, run the cell again.)

# %%
from dl_workshop.teaching.widgets import explore_step_size

explore_step_size(x, y, model=logistic_model, loss=logistic_loss, step_size=0.001, n_steps=500)

# %% [markdown]
# ## When probabilities reach 0 or 1
#
# In float32 arithmetic, `logistic(20.0)` is exactly 1. A confident *wrong* prediction then
# costs $-\log 0 = \infty$: written out with `jnp.log`, the loss (and its gradient) stop being
# numbers. Here is a very steep line, on the labels flipped:

# %%
import dl_workshop


def written_out_loss(theta, model, x, y):
    p = model(theta, x)
    return -jnp.sum(y * jnp.log(p) + (1 - y) * jnp.log(1 - p))


steep, flipped = {"w": 60.0, "b": 0.0}, 1 - y
package_loss = dl_workshop.logistic_loss(steep, dl_workshop.logistic_model, x, flipped)
print("written out with jnp.log:", float(written_out_loss(steep, logistic_model, x, flipped)))
print("your logistic_loss:      ", float(logistic_loss(steep, logistic_model, x, flipped)))
print("the package's, from z:   ", float(package_loss))

# %% [markdown]
# `binary_cross_entropy` clips the probabilities to $[\epsilon, 1 - \epsilon]$ ($\epsilon$ the
# float's resolution), so a certain, wrong prediction costs at most $-\log \epsilon \approx 15.9$
# per point and the gradient stays finite. The package's `logistic_loss` does better still for
# its own `logistic_model`: it computes the loss from $z = w x + b$ directly, with
# $\log \sigma(z) = -\log(1 + e^{-z})$, which is exact for any $z$.

# %% [markdown]
# ## Summary
#
# * Logistic regression is the linear model with a **logistic activation**: it predicts the
#   probability of label 1, and its decision boundary is where $w x + b = 0$.
# * Its loss is the **negative log-likelihood** of the labels (binary cross-entropy).
# * Model, loss and optimization routine are the same three ingredients as for the line; only
#   the model's activation and the loss changed. Stack several such layers and you have a
#   neural network.

# %%
progress("logistic_regression")

# %%
# The same fit with the package's scikit-learn estimator (for practitioners): the chapter's
# logistic loss, averaged over the points (the same optimum as the sum), minimized by L-BFGS
# and finished by Newton steps, so it lands on the exact optimum the loop above approaches.
from dl_workshop import GradientDescentClassifier

clf = GradientDescentClassifier(alpha=0.0).fit(X, Y)  # alpha=0: no penalty, as in the lesson
estimated = {"w": clf.coef_[0], "b": clf.intercept_[0]}
print("estimator: w =", clf.coef_[0].round(3), " b =", clf.intercept_.round(3))
print("fit above: w =", np.asarray(result.theta["w"]).round(3),
      " b =", np.round(float(result.theta["b"]), 3))
print(f"summed logistic loss: estimator "
      f"{float(dl_workshop.logistic_loss(estimated, logistic_model_2d, X, Y)):.4f}, fit above "
      f"{float(dl_workshop.logistic_loss(result.theta, logistic_model_2d, X, Y)):.4f}")
print("training accuracy:", clf.score(X, Y), " P(label 1) at (0, 0):",
      clf.predict_proba([[0.0, 0.0]])[0, 1].round(3))
