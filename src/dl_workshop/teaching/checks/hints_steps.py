"""The texts of the optimization loop's step-by-step checks: each parameter's update, the
second step, the run's end and the losses recorded along the way (see
:mod:`~dl_workshop.teaching.checks.loop_steps`). Format strings as in
:mod:`~dl_workshop.teaching.checks.hints`.
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
HINT_UPDATES_IGNORE_N_STEPS = (
    "n_steps is ignored by the updates: theta is where about {taken} steps of gradient descent "
    "end, for n_steps={n_steps}. Update theta once per step, inside "
    "`for step in range(n_steps):`."
)
EXPECTED_LOSSES_BEFORE = (
    "the losses of theta along the way, each recorded before its step: {before}"
)
HINT_RECORDED_AFTER = (
    "the loss is recorded after the update: these are the losses of theta after each step. "
    "Record loss(theta, model, x, y) first, then compute the gradient and update theta, so "
    "that losses[0] is the loss of the starting theta."
)

# ----------------------------------------------------------------------------------------------
# The loop honours its arguments: step_size, model and loss (see checks.loop_arguments)
# ----------------------------------------------------------------------------------------------

EXPECTED_STEP_SIZES = (
    "steps of step_size times the gradient: {first:.4g} and {second:.4g} for "
    "step_size={first:.4g} and step_size={second:.4g}"
)
GOT_STEP_SIZES = "steps of {first:.4g} and {second:.4g} times the gradient"
HINT_STEP_SIZE_IGNORED = (
    "step_size is ignored: the loop steps by about {step:.3g} times the gradient whatever "
    "step_size it is given. Use the argument in the update, theta - step_size * gradient, "
    "not a number written into the loop.{too_large}"
)
STEP_TOO_LARGE_NOTE = (
    " (That step is also too large for this data: gradient descent is stable only below "
    "2/L = {limit:.3g}.)"
)
HINT_STEP_SIZE_SCALED = (
    "the step is {factor:.3g} times step_size: each parameter becomes itself minus exactly "
    "step_size times its gradient, theta - step_size * gradient."
)
HINT_STEP_SIZE_OTHER = (
    "the step does not follow step_size: each parameter becomes itself minus step_size times "
    "its gradient, theta - step_size * gradient, with the step_size passed in."
)
EXPECTED_PROBE_THETA = (
    "given another model and another loss, theta after {n_steps} steps of gradient descent "
    "on them: {theta}"
)
HINT_IGNORES_MODEL_AND_LOSS = (
    "model and loss are ignored: given another model and another loss, the loop stepped as "
    "if with linear_model and mseloss. It calls the notebook's functions (linear_model, "
    "mseloss or dmseloss) instead of its arguments: use dloss = grad(loss) and "
    "grads = dloss(theta, model, x, y) with the model and loss passed in."
)
HINT_IGNORES_MODEL = (
    "model is ignored: given another model, the loop stepped as if with linear_model. It "
    "calls the notebook's linear_model instead of its model argument: pass the model on, "
    "loss(theta, model, x, y) and dloss(theta, model, x, y)."
)
HINT_IGNORES_LOSS = (
    "loss is ignored: given another loss, the loop stepped with the gradient of mseloss. It "
    "uses the notebook's mseloss or dmseloss instead of its loss argument: take the gradient "
    "of the argument, dloss = grad(loss)."
)
HINT_FOLLOW_ARGUMENTS = (
    "given another model and another loss, the loop's steps are not gradient descent on "
    "them: compute grads = grad(loss)(theta, model, x, y) with the model and loss passed in."
)
EXPECTED_PROBE_LOSSES = (
    "given another model and another loss, the losses loss(theta, model, x, y) along the "
    "way: {losses}"
)
HINT_RECORDS_OTHER_LOSS = (
    "the recorded losses are not those of the loss argument: they are {which}. Record "
    "loss(theta, model, x, y) with the loss and model passed in, not the notebook's "
    "functions."
)
RECORDED_MSELOSS = "the mean squared error (the notebook's mseloss)"
RECORDED_LINEAR_MODEL = "the loss of linear_model's predictions (the model argument is ignored)"
RECORDED_BOTH = "mseloss of linear_model (both arguments are ignored)"
HINT_NO_STEP_SIZE = (
    "the loop takes no step_size argument: the lesson calls it as loop(theta, model, loss, "
    "x, y, n_steps=3000, step_size=0.001). Add step_size (e.g. def "
    "model_optimization_loop(theta, model, loss, x, y, n_steps=3000, step_size=0.001)) and "
    "use it in the update."
)
