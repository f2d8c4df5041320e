"""Every text the exercise checkers show: failure parts, hints and confirmation lines.

Written once and referred to by name, so that a message reads the same wherever it is raised
and can be reviewed in one place. Texts with a ``{field}`` are format strings (``str.format``
with named fields); the others are used as they are (their braces are literal).
"""

# ----------------------------------------------------------------------------------------------
# Common to every checker
# ----------------------------------------------------------------------------------------------

FAILURE = "{exercise} is not right yet.\n  Expected: {expected}\n  Got:      {got}\n  Hint: {hint}"
SUCCESS = "\u2713 {message}"
STILL_RUNNING = "still running after {seconds:g} s"
GOT_AN_ERROR = "an error: "
#: The last line of every failure: the seed that draws the same inputs again.
SEED_LINE = "\n  Same random inputs again: seed={seed}"

HINT_NUMPY_IN_JAX = (
    "JAX cannot differentiate through NumPy: a NumPy function (np....) received a value "
    "that JAX is tracing. Use jax.numpy (jnp....) instead of numpy (np....) for anything "
    "computed from the parameters."
)
HINT_CONVERTED_PARAMETER = (
    "JAX cannot differentiate your code: float(), int(), .item() (or bool/int use of a "
    "parameter) turns a traced value into a plain Python number. Keep the arithmetic on "
    "arrays, e.g. theta['w'] * x, without converting the parameters."
)
HINT_TIMEOUT = (
    "your function did not finish within {seconds:g} s. Does a loop ever end? "
    "Use `for step in range(n_steps):` rather than a `while` loop."
)
HINT_NAME_ERROR = (
    "{error}. A name your function uses is not defined: check the spelling, "
    "and run the cell that defines it (and its imports) before this one."
)
HINT_NOT_NUMBERS = (
    "JAX was asked to differentiate with respect to something that is not numbers (the "
    "model function?). grad differentiates the first argument: keep theta first and do "
    "not pass argnums."
)
HINT_INTEGER_PARAMETERS = (
    "jax.grad can only differentiate floating-point parameters, and these are integers. "
    "Draw or write the parameters as floats (e.g. 1.0, not 1)."
)
HINT_RAISED = "your function raised {error}. Read that error and fix the line causing it."

EXPECTED_A_FUNCTION = "a function, e.g. `{example}`"
HINT_STILL_NONE = (
    "{exercise} is still None: define it (run the cell with your answer) and pass the "
    "function itself to the checker."
)
HINT_NOT_CALLABLE = (
    "pass the function itself (its name, without parentheses), not the result of "
    "calling it."
)
EXPECTED_CALLED_AS = "a function called as `{example}`"
GOT_SIGNATURE = "a function with signature {signature}"
HINT_SIGNATURE = (
    "the lesson calls it as `{example}`: give it exactly those arguments, in that "
    "order, with theta first."
)

# ----------------------------------------------------------------------------------------------
# linear_model
# ----------------------------------------------------------------------------------------------

MODEL_DEFINITION = "def {name}(theta, x): ..."
MODEL_CALL = "{name}(theta, x)"
BAD_FORM = "form must be 'scalar', 'matrix' or 'both'; got {form!r}"
MODEL_SUCCESS = (
    "{name} matches the reference on {n_cases} fresh random inputs "
    "({forms} form, {kinds}), values and gradients."
)
PARAMS_KIND = "{container} params"

EXPECTED_SCALAR_MODEL = "w * x + b = {values}"
EXPECTED_MATRIX_MODEL = "x @ w + b, shape {shape}"
EXPECTED_PREDICTIONS = "predictions {expected}"
EXPECTED_EITHER_CONTAINER = (
    "predictions {expected} for theta as a dict {{'w': w, 'b': b}} or a tuple (w, b)"
)
EXPECTED_PARAMS_FIRST = "{name}(theta, x) with the parameters first"
EXPECTED_SHAPE = "predictions of shape {shape}"
EXPECTED_DIFFERENTIABLE_MODEL = "a function JAX can differentiate with respect to theta"
EXPECTED_MODEL_GRADIENT = "gradient with respect to theta of {gradient}"
GOT_DATA_FIRST = "a function that works only as {name}(x, theta)"
GOT_ERROR_FOR_BOTH = "an error for both: {error}"
GOT_SHAPE = "shape {shape}"
GOT_GRAD_FAILED = "jax.grad failed: "

HINT_MODEL_RETURNS_NONE = (
    "your function returns None: replace `pass` with `return ...` and the prediction."
)
HINT_PARAMS_FIRST = (
    "the parameters must be the first argument: jax.grad differentiates "
    "with respect to the first argument. Write def {name}(theta, x)."
)
HINT_MATRIX_BROADCAST = (
    "in matrix form x has shape (n, d_in) and w has shape (d_in, d_out), so w * x "
    "cannot work: use a matrix product, x @ w + b (or jnp.dot(x, w) + b)."
)
HINT_MATMUL_ORDER = (
    "the matrix product is the wrong way round: each row of x is one sample, so the "
    "prediction is x @ w + b (shape (n, d_in) @ (d_in, d_out)), not w @ x."
)
HINT_SCALAR_MATMUL = (
    "in the lesson's scalar form w is a single number, and x @ w needs w to be an array: "
    "use w * x + b, or jnp.dot(x, w) + b, which handles both forms."
)
HINT_RETURN_ARRAY = "return the predictions as an array of numbers (one per sample)."
HINT_ONE_NUMBER = (
    "you returned one number; the model gives one prediction per sample. Do not "
    "sum or average inside the model."
)
HINT_MATRIX_SHAPE = (
    "in matrix form the prediction is x @ w + b: x of shape (n, d_in) times w of "
    "shape (d_in, d_out) gives (n, d_out)."
)
HINT_SCALAR_SHAPE = "return one prediction per entry of x: w * x + b has the shape of x."
HINT_OFF_BY_B = "the predictions are off by exactly b: you forgot to add the bias b."
HINT_BIAS_SIGN = "the bias has the wrong sign: the model is w * x + b, not w * x - b."
HINT_SWAPPED = "w and b are swapped: theta is {order}; the slope multiplies x."
TUPLE_ORDER = "(w, b), in that order"
DICT_ORDER = "{'w': w, 'b': b}"
HINT_FORGOT_BIAS = "you forgot to add the bias b."
HINT_MODEL_FROM_ARGUMENTS = (
    "compute w * x + b (x @ w + b in matrix form) from the theta and x passed in, "
    "not from global variables."
)
HINT_MODEL_HIDDEN_GRADIENT = (
    "the values are right but the derivative is not: do not hide the parameters from "
    "JAX (no jax.lax.stop_gradient, np.asarray or float() on them)."
)

# ----------------------------------------------------------------------------------------------
# initialize_linear_params
# ----------------------------------------------------------------------------------------------

INIT_DEFINITION = "def initialize_linear_params(): ..."
EXPECTED_MODEL_ARGUMENT = (
    "model=linear_model: your model function, to try the parameters on"
)
INIT_SUCCESS = (
    "initialize_linear_params returns fresh random {kind} params that "
    "linear_model takes and jax.grad can differentiate."
)

EXPECTED_START = "random starting values such as {'w': 0.37, 'b': -1.2} or (0.37, -1.2)"
EXPECTED_TWO_NUMBERS = "{expected}: two single numbers"
EXPECTED_MODEL_TAKES = "{expected}, in a structure linear_model can take"
EXPECTED_ONE_PER_INPUT = (
    "parameters giving one prediction per input: shape ({n},) for x of shape ({n},)"
)
EXPECTED_FLOATS = "floating-point parameters (jax.grad differentiates only floats)"
EXPECTED_FINITE = "finite starting values"
EXPECTED_DIFFERENT = "different random values on every call"
EXPECTED_DIFFERENTIABLE_PARAMS = "parameters jax.grad can differentiate"
GOT_MODEL_RAISED = "{theta}, and linear_model(theta, x) raised {error}"
GOT_NO_ARRAY = "no array"
GOT_FROM_MODEL = "{got} from linear_model(theta, x) with theta = {theta}"
GOT_DTYPE = "{theta} with a {dtype} value"
GOT_SAME_TWICE = "the same values twice: {theta}"
GOT_GRAD_MSELOSS_FAILED = "jax.grad(mseloss) failed: "
EXPECTED_MODEL_PREDICTS = "a linear_model that returns predictions, to try the parameters on"
GOT_MODEL_NONE = "linear_model(theta, x) returns None"

HINT_NO_ARGUMENTS = (
    "the lesson calls initialize_linear_params() with no arguments: draw the random "
    "numbers inside the function."
)
HINT_INIT_RETURNS_NONE = (
    "your function returns None: replace `pass` with `return` and the parameters, "
    "e.g. return {'w': npr.normal(), 'b': npr.normal()}."
)
HINT_FINISH_MODEL = (
    "your linear_model still returns None, so no parameters can be tried on it: finish "
    "linear_model first (check_linear_model), run its cell, then run this check again."
)
HINT_NOT_A_NUMBER = "every parameter must be a number; the structure holds something else."
HINT_SINGLE_NUMBERS = (
    "for the lesson's one-input model, w and b are single numbers (e.g. "
    "npr.normal()), not arrays."
)
HINT_MODEL_CANNOT_USE = (
    "linear_model cannot use what initialize_linear_params returns: {advice}."
)
ADVICE_ARRAY = (
    "an array [w, b] cannot be unpacked by name; return a dict {'w': w, 'b': b} or "
    "a tuple (w, b)"
)
ADVICE_STRUCTURE = (
    "return the parameters in the structure your linear_model reads, e.g. a dict "
    "{'w': w, 'b': b} for theta['w'], or a tuple (w, b) for w, b = theta"
)
HINT_DRAW_FLOATS = (
    "draw floats, e.g. npr.normal(); integers (npr.randint, or 1 instead of 1.0) "
    "cannot be differentiated."
)
HINT_DRAW_FINITE = "draw finite numbers."
HINT_DRAW_RANDOM = (
    "draw the values with a random number generator (e.g. npr.normal()) inside the "
    "function, without fixing a seed there, instead of writing constants."
)

# ----------------------------------------------------------------------------------------------
# mseloss
# ----------------------------------------------------------------------------------------------

MSELOSS_DEFINITION = "def mseloss(theta, model, x, y): ..."
MSELOSS_CALL = "mseloss(theta, model, x, y)"
MSELOSS_SUCCESS = (
    "mseloss matches the reference on {n_cases} fresh random inputs (one and several "
    "outputs, dict and tuple params, any model), values and gradients."
)
CASE_DESCRIPTION = "{form} form, {container} params, {model}"
ANOTHER_MODEL = "another model"
NAMED_PARAMS = "{'slope': w, 'intercept': b}"

EXPECTED_LOSS = "the mean squared error, a single number: {value:.6g}"
EXPECTED_THETA_FIRST = "mseloss(theta, model, x, y) with theta first"
EXPECTED_DIFFERENTIABLE_LOSS = "a loss JAX can differentiate with respect to theta"
EXPECTED_LOSS_GRADIENT = "gradient {gradient} ({case})"
GOT_PERMUTED = "a function that works as mseloss({order})"
GOT_CASE_ERROR = "an error ({case}): "
GOT_ARRAY_SHAPE = "an array of shape {shape}"
GOT_LOSS_VALUE = "{value:.6g}{ratio} ({case})"
GOT_RATIO = " ({ratio:.3g} x the expected value)"

HINT_ARGUMENT_ORDER = (
    "put the arguments in the order theta, model, x, y: jax.grad "
    "differentiates with respect to the first argument, so theta must "
    "come first."
)
HINT_LOSS_RETURNS_NONE = "your function returns None: replace `pass` with `return` and the loss."
HINT_LOSS_NUMBER = "return the loss as a number."
HINT_PER_SAMPLE = (
    "you return one squared error per sample; average them into one number with "
    "jnp.mean."
)
HINT_LOSS_SCALAR = "the loss must be a scalar (shape ()), e.g. jnp.mean((y - y_pred) ** 2)."
HINT_IGNORES_MODEL = (
    "your loss ignores its model argument: it calls linear_model (or computes the line "
    "itself), so it gives linear_model's loss whatever model it is given: call the `model` "
    "argument, not `linear_model`, y_pred = model(theta, x)."
)
HINT_FAILS_OTHER_MODEL = (
    "your loss works with linear_model but raised {error} with another model, whose "
    "parameters linear_model cannot read, so it does not use its model argument as it is: "
    "call the `model` argument, not `linear_model`, y_pred = model(theta, x), and leave "
    "theta to the model."
)
HINT_LOSS_FROM_ARGUMENTS = (
    "compute y_pred = model(theta, x) from the arguments passed in (not global "
    "variables), then jnp.mean((y - y_pred) ** 2)."
)
HINT_LOSS_NEARLY = (
    "your loss is nearly the mean squared error ({percent:.2g}% off) but not quite: compute "
    "exactly jnp.mean((y - y_pred) ** 2), in float32 or float64 (not float16), with no "
    "extra terms or rounding."
)
HINT_SUM_OF_SQUARES = (
    "you sum the squared errors instead of averaging them: use jnp.mean (the sum grows "
    "with the number of samples, and so would the step size you need)."
)
HINT_SQUARE_OF_SUM = (
    "you square the sum of the errors instead of summing the squares: square each "
    "error first, then average, jnp.mean((y - y_pred) ** 2). Positive and negative "
    "errors must not cancel."
)
HINT_SQUARE_OF_MEAN = (
    "you square the mean of the errors instead of averaging the squares: "
    "jnp.mean((y - y_pred) ** 2), with the ** 2 inside the mean."
)
HINT_NOT_SQUARED = (
    "you average the errors without squaring them: positive and negative errors cancel. "
    "Use jnp.mean((y - y_pred) ** 2)."
)
HINT_ABSOLUTE = (
    "that is the mean absolute error; the exercise asks for the mean *squared* error."
)
HINT_ROOT = "that is the root of the mean squared error; leave out the square root."
HINT_HALVED = "you halve the mean squared error; leave out the factor 1/2."
HINT_NEGATIVE = (
    "the loss is negative: minimizing it would make the errors larger. Drop the minus "
    "sign; (y - y_pred) ** 2 and (y_pred - y) ** 2 are the same."
)
HINT_PER_ROW = (
    "you divide by the number of rows (len(y) = {rows}) instead of the "
    "number of values ({size}): with several outputs use jnp.mean, which "
    "averages over every element."
)
HINT_LOSS_HIDDEN_GRADIENT = (
    "the loss values are right but not its gradient: do not hide theta from JAX "
    "(no np.asarray, float() or jax.lax.stop_gradient on it)."
)

# ----------------------------------------------------------------------------------------------
# dmseloss
# ----------------------------------------------------------------------------------------------

DMSELOSS_DEFINITION = "dmseloss = grad(mseloss)"
DMSELOSS_CALL = "dmseloss(theta, model, x, y)"
DMSELOSS_SUCCESS = (
    "dmseloss matches jax.grad of the reference loss on {n_cases} fresh random inputs "
    "(dict and tuple params, one and several outputs)."
)

EXPECTED_GRADIENT_FUNCTION = "a function: dmseloss = grad(mseloss)"
EXPECTED_GRADIENT = "{structure} = {gradient} ({case})"
DICT_GRADIENT = "a dict {'w': dw, 'b': db}"
TUPLE_GRADIENT = "a tuple (dw, db)"
GOT_VALUE_AND_GRAD = "a pair (loss, gradient)"
GOT_GRADIENT_OF = "the gradient with respect to {argument}: {value}"
SEVERAL_ARGUMENTS = "theta and other arguments at once"
SEVERAL_ARGNUMS = "(0, ...)"

HINT_GRADIENT_CALLED = (
    "dmseloss must be the gradient *function*, grad(mseloss), not the gradient "
    "evaluated at one theta: do not call it when defining it."
)
HINT_GRADIENT_RETURNS_NONE = (
    "dmseloss returns None: define it as dmseloss = grad(mseloss) (a one-liner), "
    "not as a function with `pass` in it."
)
HINT_RETURNS_LOSS = "dmseloss returns the loss itself: take its gradient, grad(mseloss)."
HINT_ONE_ENTRY_PER_PARAMETER = (
    "the gradient must have one entry per parameter, in theta's structure."
)
HINT_VALUE_AND_GRAD = (
    "that is what jax.value_and_grad returns; dmseloss is grad(mseloss), the "
    "gradient alone."
)
HINT_GRADIENT_STRUCTURE = (
    "the gradient must have the same structure as theta (jax.grad does this for "
    "you): a dict for dict params, a tuple for tuple params."
)
HINT_GRADIENT_SIGNATURE = (
    "dmseloss takes the arguments of mseloss, theta, model, x and y: define it from the "
    "lesson's four-argument mseloss, dmseloss = grad(mseloss)."
)
HINT_ARGNUMS = (
    "that is the gradient with respect to {argument}: grad(mseloss, argnums={argnums}) "
    "differentiates the argument that argnums names. Leave argnums out, dmseloss = "
    "grad(mseloss), to differentiate with respect to theta, the first argument."
)
HINT_GRADIENT_SHAPES = "each gradient entry must have the shape of its parameter."
HINT_GRADIENT_SIGN = (
    "the gradient has the wrong sign: differentiate the loss as it is, "
    "jax.grad(mseloss), and subtract the gradient only in the update step."
)
HINT_GRADIENT_N_TIMES = (
    "the gradient is {n} (= n) times too large: your loss sums the "
    "squared errors instead of averaging them (jnp.mean)."
)
HINT_GRADIENT_HALF = (
    "the gradient is half the expected one: your loss has a factor 1/2 "
    "that the mean squared error does not."
)
HINT_GRADIENT_OTHER = (
    "define dmseloss = jax.grad(mseloss) and check that mseloss itself is right "
    "(check_mseloss)."
)

# ----------------------------------------------------------------------------------------------
# The optimization loop
# ----------------------------------------------------------------------------------------------

LOOP_SIGNATURE = "model_optimization_loop(theta, model, loss, x, y, n_steps=..., step_size=...)"
LOOP_DEFINITION = f"def {LOOP_SIGNATURE}: ..."
LOOP_SUCCESS = (
    "the optimization loop records one loss per step and moves downhill: on fresh random "
    "data the loss fell from {start:.4g} to {end:.4g} in {n_steps} steps. It follows its "
    "step_size, model and loss arguments (also on a model and a loss other than the lesson's)."
)

EXPECTED_LOOP_CALL = f"a function called as {LOOP_SIGNATURE}"
EXPECTED_LOOP_RESULT = f"(losses, theta) from {LOOP_SIGNATURE}"
EXPECTED_PAIR = "a pair (losses, theta): {n_steps} loss value(s) and the updated parameters"
EXPECTED_ONE_LOSS = "1 loss for n_steps=1"
EXPECTED_THETA_CHANGE = "theta to change after a step"
EXPECTED_DOWNHILL = "a step downhill: the loss of {loss:.4g} at the start should fall"
EXPECTED_RESULT_AFTER = "(losses, theta) after {n_steps} steps"
EXPECTED_LOSS_PER_STEP = "{n_steps} losses for n_steps={n_steps}, one per step"
EXPECTED_LOSS_TO_FALL = "the loss to fall"
EXPECTED_CURRENT_LOSS = "the loss of the current theta at each step"
EXPECTED_FIRST_LOSS = (
    "a first recorded loss of {start:.6g}, the loss of the starting theta (recorded before "
    "the update)"
)
GOT_SWAPPED_RESULT = "(theta, losses)"
GOT_LOSSES = "losses = {losses}"
GOT_THETA = "theta = {theta}"
GOT_N_LOSSES = "{n} losses"
GOT_N_LOSSES_OR_ONE = "{n} loss(es)"
GOT_UNCHANGED = "the starting theta, unchanged"
GOT_UPHILL = "a step uphill, to a loss of {loss:.4g}"
GOT_LOSS_GREW = "the loss grew from {start:.4g} to {end:.4g} in {n_steps} steps"
GOT_SAME_LOSS = "the same value, {loss:.6g}, at every step"
GOT_LOSS = "{loss:.6g}"

HINT_LOOP_SIGNATURE = (
    "take theta, model, loss, x and y in that order, and n_steps and step_size arguments; "
    "the lesson calls it as loop(theta, linear_model, mseloss, x, y, n_steps=3000, "
    "step_size=0.001)."
)
HINT_LOOP_RETURNS_NONE = "your loop returns None: end the function with `return losses, theta`."
HINT_RETURN_BOTH = (
    "return both the recorded losses and the final parameters: `return losses, theta`."
)
HINT_LOSSES_FIRST = "the lesson unpacks `losses, theta = ...`: return the losses first."
HINT_LOSSES_NUMBERS = "losses should be a list (or array) of numbers, one loss per step."
HINT_RETURN_THETA = (
    "return the updated parameters (w and b, single numbers) in the same structure as "
    "the theta passed in."
)
HINT_NOTHING_RECORDED = (
    "nothing is recorded: append the loss to the list inside the loop, once per step."
)
HINT_RECORDED_ONCE = (
    "the loss is recorded once instead of at every step: put losses.append(...) inside "
    "the loop body (indented under the for)."
)
HINT_N_STEPS = (
    "n_steps is ignored: the loop recorded {got} losses for n_steps={n_steps}. Run exactly "
    "n_steps steps with `for step in range(n_steps):`, using the n_steps argument rather "
    "than a fixed number."
)
HINT_OFF_BY_ONE = (
    "the loop runs one step too many or too few: {got} losses for n_steps={n_steps}. "
    "`for step in range(n_steps):` runs exactly n_steps steps; record one loss in each."
)
HINT_THETA_NOT_UPDATED = (
    "theta is never updated: assign the new values back, e.g. "
    "theta = {'w': w - step_size * grads['w'], 'b': b - step_size * grads['b']} inside "
    "the loop, and return that theta."
)
HINT_UPDATE_SIGN = (
    "the update has the wrong sign: step against the gradient, "
    "theta - step_size * gradient, not theta + step_size * gradient. (The sign inside "
    "the loss does not matter; the sign of the update does.)"
)
HINT_LOSS_GROWS = (
    "the loss grows although the first step is small enough: make every step "
    "theta - step_size * gradient, with the gradient of the current theta."
)
HINT_LOSS_INSIDE_LOOP = (
    "compute the loss inside the loop from the current theta before appending it, "
    "rather than appending one value computed before the loop."
)
HINT_LOSS_ARGUMENTS = (
    "record loss(theta, model, x, y) with the model, x and y passed to the loop, not "
    "global variables."
)
HINT_RECORD_CURRENT = (
    "record the loss of the current theta at every step, after computing it afresh."
)

# ----------------------------------------------------------------------------------------------
# Hints and solutions on request, progress
# ----------------------------------------------------------------------------------------------

HINT_HEADER = "Hint {n} of {total} for {name}: {hint}"
LAST_HINT_NOTE = "\n(That is the last hint, {total} of {total}; solution(...) shows our answer.)"
BAD_HINT_NUMBER = "n must be an integer >= 1; got {n!r}"
UNKNOWN_EXERCISE = "unknown exercise {name!r}; the exercises are: {known}"
NO_SOLUTION = "no reference solution is recorded for {name!r}"
TOO_FEW_HINTS = "exercise {name!r} needs at least {n} hints, from gentle to specific"
PROGRESS_HEADER = ("exercise", "status")
NOTHING_CHECKED = (
    "No exercise has been checked in this kernel yet: progress shows the exercises of the "
    "lesson you are working on once you ran one of its checks. progress({lesson!r}) lists a "
    "lesson's exercises now."
)
BAD_LESSON_TYPE = "lesson must be a lesson's name (a string); got {lesson!r}"
UNKNOWN_LESSON = "unknown lesson {lesson!r}; the lessons are: {known}"
