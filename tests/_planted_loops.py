"""Planted optimization loops (not a test module): the wrong loops learners write, each with the
words its message must contain, and right loops in other styles, which must pass.

"The notebook's functions" are the package's ``linear_model``, ``mseloss`` and ``dmseloss``:
a loop that calls them instead of its ``model`` and ``loss`` arguments is right on the lesson's
own functions, and wrong on any other.
"""

import jax
import jax.numpy as jnp
import numpy as np

from dl_workshop import linear_model, model_optimization_loop, mseloss

LESSON_X = np.linspace(-5.0, 5.0, 100)
LESSON_Y = 2.0 * LESSON_X + 20.0
NOTEBOOK_DMSELOSS = jax.grad(mseloss)

# The words of each mistake's message.
STEP_SIZE_IGNORED = "step_size is ignored"
MODEL_IGNORED = "model is ignored"
LOSS_IGNORED = "loss is ignored"
BOTH_IGNORED = "model and loss are ignored"
RECORDED_AFTER = "recorded after the update"
N_STEPS_IGNORED = "n_steps is ignored"
B_WITH_W = "b is updated with the gradient of w"
W_WITH_B = "w is updated with the gradient of b"


def make_loop(
    *,
    update="both",
    sign_w=-1.0,
    sign_b=-1.0,
    scale_b=1.0,
    gradient_for_b="b",
    gradient_for_w="w",
    record="before",
    return_inside=False,
    gradient_once=False,
    from_start=False,
    momentum=0.0,
    steps=None,
    fixed_step=None,
    step_scale=1.0,
    model_used="argument",
    loss_used="argument",
    recorded_with="argument",
):
    """A hand-written lesson loop (dict params) with switchable mistakes.

    ``steps``: a function of ``n_steps`` giving the steps run (default ``n_steps``);
    ``model_used``/``loss_used``: ``"notebook"`` calls the notebook's ``linear_model`` or takes
    the gradient of the notebook's ``mseloss`` instead of the argument; ``recorded_with``:
    ``"notebook model"`` or ``"notebook loss"`` records the loss with the notebook's function.
    """

    def loop(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
        eta = (step_size if fixed_step is None else fixed_step) * step_scale
        step_model = linear_model if model_used == "notebook" else model
        dloss = NOTEBOOK_DMSELOSS if loss_used == "notebook" else jax.grad(loss)
        record_model = linear_model if recorded_with == "notebook model" else model
        record_loss = mseloss if recorded_with == "notebook loss" else loss
        losses = []
        start, first_grads = dict(theta), dloss(theta, step_model, x, y)
        velocity = {"w": 0.0, "b": 0.0}
        first_loss = float(record_loss(theta, record_model, x, y))
        for _ in range(n_steps if steps is None else steps(n_steps)):
            if record == "before":
                losses.append(float(record_loss(theta, record_model, x, y)))
            elif record == "first":
                losses.append(first_loss)
            grads = first_grads if gradient_once else dloss(theta, step_model, x, y)
            base = start if from_start else theta
            step = {
                "w": sign_w * eta * grads[gradient_for_w],
                "b": sign_b * scale_b * eta * grads[gradient_for_b],
            }
            velocity = {k: momentum * velocity[k] + step[k] for k in step}
            new = {k: base[k] + velocity[k] for k in base}
            if update == "both":
                theta = new
            elif update in ("w", "b"):
                theta = {**theta, update: new[update]}
            if record == "after":
                losses.append(float(record_loss(theta, record_model, x, y)))
            if return_inside:
                return losses, theta
        return losses, theta

    return loop


# ---------------------------------------------------------------------------------------------
# Wrong loops written out in other styles
# ---------------------------------------------------------------------------------------------


def records_once(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
    dloss = jax.grad(loss)
    for _ in range(n_steps):
        grads = dloss(theta, model, x, y)
        theta = {k: theta[k] - step_size * grads[k] for k in theta}
    return [float(loss(theta, model, x, y))], theta


def global_data(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
    dloss = jax.grad(loss)
    losses = []
    for _ in range(n_steps):
        losses.append(float(loss(theta, model, LESSON_X, LESSON_Y)))
        grads = dloss(theta, model, x, y)
        theta = {k: theta[k] - step_size * grads[k] for k in theta}
    return losses, theta


def theta_first(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
    losses, theta = make_loop()(theta, model, loss, x, y, n_steps=n_steps, step_size=step_size)
    return theta, losses


def tuple_fixed_step(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
    dloss = jax.grad(loss)
    losses = []
    w, b = theta
    for _ in range(n_steps):
        losses.append(loss((w, b), model, x, y))
        dw, db = dloss((w, b), model, x, y)
        w, b = w - 0.01 * dw, b - 0.01 * db  # step_size left unused
    return losses, (w, b)


def keyword_only_learning_rate(theta, model, loss, x, y, *, n_steps=3000, step_size=0.001):
    learning_rate = 0.02  # a name of its own, set once and used instead of step_size
    losses = []
    for _ in range(n_steps):
        value, grads = jax.value_and_grad(loss)(theta, model, x, y)
        losses.append(value)
        theta = jax.tree.map(lambda p, g: p - learning_rate * g, theta, grads)
    return losses, theta


def tuple_notebook_model(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
    dloss = jax.grad(loss)
    losses = []
    w, b = theta
    for _ in range(n_steps):
        losses.append(loss((w, b), linear_model, x, y))
        dw, db = dloss((w, b), linear_model, x, y)
        w, b = w - step_size * dw, b - step_size * db
    return losses, (w, b)


def tree_map_notebook_gradient(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
    losses = []
    for _ in range(n_steps):
        losses.append(loss(theta, model, x, y))
        grads = NOTEBOOK_DMSELOSS(theta, model, x, y)
        theta = jax.tree_util.tree_map(lambda p, g: p - step_size * g, theta, grads)
    return losses, theta


def notebook_everything(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
    losses = []
    for _ in range(n_steps):
        losses.append(float(mseloss(theta, linear_model, x, y)))
        grads = NOTEBOOK_DMSELOSS(theta, linear_model, x, y)
        theta = {k: theta[k] - step_size * grads[k] for k in theta}
    return losses, theta


def while_records_after(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
    dloss = jax.grad(loss)
    losses = []
    step = 0
    while step < n_steps:
        grads = dloss(theta, model, x, y)
        theta = {"w": theta["w"] - step_size * grads["w"], "b": theta["b"] - step_size * grads["b"]}
        losses.append(float(loss(theta, model, x, y)))
        step += 1
    return losses, theta


def tree_map_records_after(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
    losses = []
    for _ in range(n_steps):
        grads = jax.grad(loss)(theta, model, x, y)
        theta = jax.tree.map(lambda p, g: p - step_size * g, theta, grads)
        losses.append(loss(theta, model, x, y))
    return jnp.array(losses), theta


def tuple_records_after(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
    dloss = jax.grad(loss)
    losses = []
    w, b = theta
    for _ in range(n_steps):
        dw, db = dloss((w, b), model, x, y)
        w, b = w - step_size * dw, b - step_size * db
        losses.append(loss((w, b), model, x, y))
    return losses, (w, b)


def tuple_fixed_count(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
    dloss = jax.grad(loss)
    losses = []
    w, b = theta
    for _ in range(60):
        losses.append(loss((w, b), model, x, y))
        dw, db = dloss((w, b), model, x, y)
        w, b = w - step_size * dw, b - step_size * db
    return losses, (w, b)


def updates_fixed_count(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
    # One loss per step recorded, but theta updated in a loop of its own, a fixed 40 times.
    losses = [float(loss(theta, model, x, y))] * n_steps
    for _ in range(40):
        grads = jax.grad(loss)(theta, model, x, y)
        theta = {k: theta[k] - step_size * grads[k] for k in theta}
    return losses, theta


def _always(n):
    return lambda n_steps: n


WRONG_LOOPS = [
    # (name, loop, words its message must contain)
    ("loop stub", lambda t, m, f, x, y, n_steps=3, step_size=0.1: None, "returns None"),
    ("loop never updates", make_loop(update="none"), "theta is never"),
    ("loop never updates b", make_loop(update="w"), "b is never updated"),
    ("loop never updates w", make_loop(update="b"), "w is never updated"),
    ("loop b with w's gradient", make_loop(gradient_for_b="w"), B_WITH_W),
    ("loop w with b's gradient", make_loop(gradient_for_w="b"), W_WITH_B),
    ("loop gradients swapped", make_loop(gradient_for_w="b", gradient_for_b="w"), "each other's"),
    ("loop climbs in b", make_loop(sign_b=+1.0), "b climbs"),
    ("loop climbs in w", make_loop(sign_w=+1.0), "w climbs"),
    ("loop climbs", make_loop(sign_w=+1.0, sign_b=+1.0), "wrong sign"),
    ("loop two step sizes", make_loop(scale_b=2.0), "one step_size"),
    ("loop return inside", make_loop(return_inside=True), "inside the for"),
    ("loop first loss each step", make_loop(record="first"), "before the"),
    ("loop records once", records_once, "recorded once"),
    ("loop records nothing", make_loop(record="never"), "nothing is"),
    ("loop theta first", theta_first, "losses first"),
    ("loop global data", global_data, "global variables"),
    ("loop starting gradient", make_loop(gradient_once=True), "starting theta"),
    ("loop from the start", make_loop(from_start=True), "from the start"),
    ("loop momentum", make_loop(momentum=0.9), "later steps"),
    # step_size ignored: a number written into the loop, whatever its size
    ("loop step 0.05 written in", make_loop(fixed_step=0.05), STEP_SIZE_IGNORED),
    ("loop step 0.001 written in", make_loop(fixed_step=0.001), STEP_SIZE_IGNORED),
    ("loop step too large written in", make_loop(fixed_step=1.0), "too large"),
    ("loop tuple, step 0.01 written in", tuple_fixed_step, STEP_SIZE_IGNORED),
    ("loop keyword-only, own rate", keyword_only_learning_rate, STEP_SIZE_IGNORED),
    ("loop twice step_size", make_loop(step_scale=2.0), "2 times step_size"),
    # model or loss ignored: the notebook's functions called instead
    ("loop notebook model", make_loop(model_used="notebook"), MODEL_IGNORED),
    ("loop tuple, notebook model", tuple_notebook_model, MODEL_IGNORED),
    ("loop notebook dmseloss", make_loop(loss_used="notebook"), LOSS_IGNORED),
    ("loop tree_map, notebook dmseloss", tree_map_notebook_gradient, LOSS_IGNORED),
    (
        "loop notebook model and dmseloss",
        make_loop(model_used="notebook", loss_used="notebook"),
        BOTH_IGNORED,
    ),
    ("loop notebook everything", notebook_everything, BOTH_IGNORED),
    (
        "loop records notebook mseloss",
        make_loop(recorded_with="notebook loss"),
        "notebook's mseloss",
    ),
    (
        "loop records with notebook model",
        make_loop(recorded_with="notebook model"),
        "linear_model's predictions",
    ),
    # the loss recorded after the update
    ("loop records after", make_loop(record="after"), RECORDED_AFTER),
    ("loop while, records after", while_records_after, RECORDED_AFTER),
    ("loop tree.map, records after", tree_map_records_after, RECORDED_AFTER),
    ("loop tuple, records after", tuple_records_after, RECORDED_AFTER),
    # n_steps ignored or miscounted
    ("loop fixed 40 steps", make_loop(steps=_always(40)), N_STEPS_IGNORED),
    ("loop fixed 2 steps", make_loop(steps=_always(2)), N_STEPS_IGNORED),
    ("loop tuple, fixed 60 steps", tuple_fixed_count, N_STEPS_IGNORED),
    ("loop updates a fixed 40 times", updates_fixed_count, "n_steps is ignored by the updates"),
    ("loop one step too many", make_loop(steps=lambda n: n + 1), "one step too many"),
    ("loop one step too few", make_loop(steps=lambda n: n - 1), "one step too many or too few"),
]

# The mix-ups of the two gradients, named right on every seed (see test_planted_answers).
MIXUPS = [
    ("b with w's gradient", make_loop(gradient_for_b="w"), B_WITH_W),
    ("w with b's gradient", make_loop(gradient_for_w="b"), W_WITH_B),
    ("gradients swapped", make_loop(gradient_for_w="b", gradient_for_b="w"), "each other's"),
]


# ---------------------------------------------------------------------------------------------
# Right loops, in other styles
# ---------------------------------------------------------------------------------------------


def tuple_loop(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
    dloss = jax.grad(loss)
    losses = []
    w, b = theta
    for _ in range(n_steps):
        losses.append(loss((w, b), model, x, y))
        dw, db = dloss((w, b), model, x, y)
        w, b = w - step_size * dw, b - step_size * db
    return losses, (w, b)


def in_place(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
    dloss = jax.grad(loss)
    losses = []
    for _ in range(n_steps):
        losses.append(loss(theta, model, x, y))
        grads = dloss(theta, model, x, y)
        for name in theta:
            theta[name] -= step_size * grads[name]
    return losses, theta


def tree_util_map(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
    losses = []
    for _ in range(n_steps):
        value, grads = jax.value_and_grad(loss)(theta, model, x, y)
        losses.append(value)
        theta = jax.tree_util.tree_map(lambda p, g: p - step_size * g, theta, grads)
    return jnp.array(losses), theta


def tree_map(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
    dloss = jax.grad(loss, argnums=0)
    losses = []
    for _ in range(n_steps):
        losses.append(float(loss(theta, model, x, y)))
        theta = jax.tree.map(lambda p, g: p - step_size * g, theta, dloss(theta, model, x, y))
    return losses, theta


def keyword_only(theta, model, loss, x, y, *, n_steps=3000, step_size=0.001):
    return tree_map(theta, model, loss, x, y, n_steps=n_steps, step_size=step_size)


def positional_no_defaults(theta, model, loss, x, y, n_steps, step_size):
    return tuple_loop(theta, model, loss, x, y, n_steps, step_size)


def step_size_before_n_steps(theta, model, loss, x, y, step_size=0.001, n_steps=3000):
    return make_loop()(theta, model, loss, x, y, n_steps=n_steps, step_size=step_size)


def step_size_in_options(theta, model, loss, x, y, n_steps=3000, **options):
    return tree_map(theta, model, loss, x, y, n_steps, options.get("step_size", 0.001))


def while_records_before(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
    dloss = jax.grad(loss)
    losses = np.zeros(n_steps)
    step = 0
    while step < n_steps:
        losses[step] = loss(theta, model, x, y)
        grads = dloss(theta, model, x, y)
        theta = {"w": theta["w"] - step_size * grads["w"], "b": theta["b"] - step_size * grads["b"]}
        step += 1
    return losses, theta


RIGHT_LOOPS = [
    ("loop dict comprehension", make_loop()),
    ("loop tuple", tuple_loop),
    ("loop in-place update", in_place),
    ("loop tree_util.tree_map, value_and_grad", tree_util_map),
    ("loop jax.tree.map", tree_map),
    ("loop step_size keyword-only", keyword_only),
    ("loop step_size positional, no defaults", positional_no_defaults),
    ("loop step_size before n_steps", step_size_before_n_steps),
    ("loop step_size in **options", step_size_in_options),
    ("loop while, records before, into an array", while_records_before),
    ("loop: the package's", model_optimization_loop),
]
