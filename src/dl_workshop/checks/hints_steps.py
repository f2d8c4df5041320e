"""The texts of the optimization loop's step-by-step checks: each parameter's update, the
second step, the run's end and the losses recorded along the way (see
:mod:`~dl_workshop.checks.loop_steps`). Format strings as in :mod:`~dl_workshop.checks.hints`.
"""

EXPECTED_EVERY_PARAMETER = (
    "every parameter to step against its own gradient, with one step size: "
    "new = old - step_size * gradient, for w and for b"
)
GOT_MOVES = "w moved by {dw:.4g} (its gradient: {gw:.4g}), b by {db:.4g} (its gradient: {gb:.4g})"
EXPECTED_SECOND_STEP = (
    "a second step from the first step's theta, against the gradient there ({step})"
)
GOT_SECOND_STEP = "a second step of {step}"
EXPECTED_THETA_ALONG = "theta after {n_steps} steps of gradient descent: {theta}"
EXPECTED_LOSSES_ALONG = (
    "the losses of theta along the way: {before} (before each step) or {after} (after it)"
)
GOT_ONE_LOSS_THETA = "1 loss, and theta after {moved} step(s)"

HINT_PARAMETER_NOT_UPDATED = (
    "{name} is never updated: only {other} moves. Update every parameter, e.g. "
    "theta = {{'w': w - step_size * grads['w'], 'b': b - step_size * grads['b']}}, or "
    "jax.tree_util.tree_map(lambda p, g: p - step_size * g, theta, grads)."
)
HINT_OTHERS_GRADIENT = (
    "{name} is updated with the gradient of {other}: each parameter steps against its own "
    "gradient, {name} - step_size * grads['{name}']."
)
HINT_SWAPPED_GRADIENTS = (
    "w and b are updated with each other's gradients: w - step_size * grads['w'] and "
    "b - step_size * grads['b']."
)
HINT_CLIMBS = (
    "{name} climbs: its update has the wrong sign ({name} + step_size * gradient) while "
    "{other} goes downhill. Subtract the gradient for every parameter."
)
HINT_ONE_STEP_SIZE = (
    "w and b move by different multiples of their gradients ({rate_w:.3g} and "
    "{rate_b:.3g}): gradient descent uses one step_size for every parameter."
)
HINT_FIRST_STEP_ONLY = (
    "theta moves on from the start only once: every step must start from the theta the "
    "step before left, so assign the update back to theta inside the loop."
)
HINT_STARTING_GRADIENT = (
    "every step uses the gradient at the starting theta: compute "
    "grads = dloss(theta, model, x, y) inside the loop, at the current theta."
)
HINT_LATER_STEPS = (
    "the first step is right but the later steps are not gradient-descent steps: repeat "
    "the same update, theta - step_size * dloss(theta, model, x, y), at every step."
)
HINT_RETURN_IN_LOOP = (
    "the loop stops after its first step: `return losses, theta` is indented inside the "
    "for loop. Dedent it so that it runs once, after the loop."
)
