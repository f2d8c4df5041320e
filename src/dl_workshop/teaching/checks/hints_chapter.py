"""The texts of the checkers of the chapter's other lessons: gradient-based optimization of
``f(w)`` (:mod:`~dl_workshop.teaching.checks.exercise_polynomial`) and logistic regression
(:mod:`~dl_workshop.teaching.checks.exercise_logistic`). Shared texts (the failure frame, generic
hints
about errors and signatures) are in :mod:`~dl_workshop.teaching.checks.hints`."""

# --- f(w) and its derivative -----------------------------------------------------------------

F_DEFINITION = "def f(w): ..."
F_CALL = "f(w)"
DF_DEFINITION = "def df(w): ..."
DF_CALL = "df(w)"
DFDW_DEFINITION = "dfdw = grad(f)"
DFDW_CALL = "dfdw(w)"
DESCEND_DEFINITION = "def descend(df, w, step_size=0.01, n_steps=1000): ..."
DESCEND_CALL = "descend(df, w, step_size, n_steps)"

F_SUCCESS = "f is right: w**2 + 3*w - 5 at {n} random points, on arrays and under jax.grad."
DF_SUCCESS = "df is right: 2*w + 3 at {n} random points, zero at the minimum w = -1.5."
DFDW_SUCCESS = "dfdw is right: it gives f's slope 2*w + 3 at {n} random points."
DESCEND_SUCCESS = (
    "descend is right: it steps against the gradient it is given, {n} runs with random starts, "
    "step sizes and numbers of steps."
)

EXPECTED_VALUE_AT = "{name}({w:.4g}) = {value:.6g}"
EXPECTED_ELEMENTWISE = "{name} of an array, element by element: {values}"
EXPECTED_DIFFERENTIABLE_F = "a function JAX can differentiate: grad(f)({w:.4g}) = {value:.6g}"
EXPECTED_FINAL_W = (
    "the last w of {n_steps} steps of size {step_size:.3g} from w = {start:.4g}: {value:.6g}"
)
GOT_VALUE = "{value}"

HINT_RETURNS_NONE = "your function returns None: end it with `return` and the value."
HINT_NOT_A_NUMBER = "return one number for one w (and an array for an array of w)."
HINT_CARET = (
    "in Python `^` is not a power (it is bitwise xor): write w ** 2 for w squared."
)
HINT_F_CONSTANT = "the value is off by a constant: f(w) = w**2 + 3*w - 5 ends with minus 5."
HINT_F_LINEAR = "check the middle term: it is plus 3 times w."
HINT_F_SQUARE = "the first term is w squared, w ** 2 (not 2 * w)."
HINT_F_IS_DF = "that is the derivative 2*w + 3; f itself is w**2 + 3*w - 5."
HINT_F_OTHER = "compute w ** 2 + 3 * w - 5 from the argument w and return it."
HINT_ELEMENTWISE = (
    "use plain arithmetic (w ** 2, 3 * w) rather than math functions or `if`: then the same "
    "code works on a number and on a whole array."
)
HINT_NOT_DIFFERENTIABLE_F = (
    "JAX could not differentiate f: keep it plain arithmetic on w, without float(...), "
    "math.* or np.* calls."
)
HINT_DF_IS_F = "that is f itself; df is its derivative, the slope of f at w."
HINT_DF_CONSTANT = "the derivative of 3*w is 3: df(w) = 2*w + 3."
HINT_DF_SQUARE = "the derivative of w**2 is 2*w (bring the power down, reduce it by one)."
HINT_DF_KEPT_CONSTANT = "the constant -5 does not change with w, so its derivative is 0."
HINT_DF_SIGN = "the sign is flipped: the slope of f at w is 2*w + 3."
HINT_DF_OTHER = "differentiate term by term: w**2 gives 2*w, 3*w gives 3, -5 gives 0."
HINT_DFDW_CALLED = (
    "dfdw is a number, not a function: grad(f) is the gradient function; assign it without "
    "calling it: dfdw = grad(f)."
)
HINT_DFDW_VALUES = (
    "dfdw must be grad(f) for your (checked) f: it gives the slope 2*w + 3 of f at w."
)
HINT_DESCEND_ASCENDS = (
    "w moves uphill: step against the gradient, w = w - step_size * df(w), not plus."
)
HINT_DESCEND_UNCHANGED = (
    "w comes back as it went in: update it inside the loop (w = w - step_size * df(w)) and "
    "return it after the loop."
)
HINT_DESCEND_STEPS = (
    "the number of steps is off by one: `for _ in range(n_steps):` runs exactly n_steps updates."
)
HINT_DESCEND_GLOBAL = (
    "use the arguments, not global names: the gradient function is the argument df, the step "
    "size the argument step_size."
)
HINT_DESCEND_FIRST_STEP = (
    "the result is w after one step: the `return` is inside the loop; move it after the loop."
)
HINT_DESCEND_LIST = "return the final w (one number), not a list of every w."
HINT_DESCEND_OTHER = (
    "repeat n_steps times: w = w - step_size * df(w), with the df and step_size you are given; "
    "then return w."
)

# --- logistic regression -----------------------------------------------------------------------

LOGISTIC_DEFINITION = "def logistic(z): ..."
LOGISTIC_CALL = "logistic(z)"
LOGISTIC_MODEL_DEFINITION = "def logistic_model(theta, x): ..."
LOGISTIC_MODEL_CALL = "logistic_model(theta, x)"
LOGISTIC_LOSS_DEFINITION = "def logistic_loss(theta, model, x, y): ..."
LOGISTIC_LOSS_CALL = "logistic_loss(theta, model, x, y)"
DLOGISTIC_LOSS_DEFINITION = "dlogistic_loss = grad(logistic_loss)"
DLOGISTIC_LOSS_CALL = "dlogistic_loss(theta, model, x, y)"

LOGISTIC_SUCCESS = "logistic is right: 1 / (1 + exp(-z)) on {n} random values, differentiable."
LOGISTIC_MODEL_SUCCESS = (
    "logistic_model is right: logistic(w * x + b) on {n} random cases, differentiable."
)
LOGISTIC_LOSS_SUCCESS = (
    "logistic_loss is right: the summed negative log-likelihood on {n} random cases, with your "
    "model argument used, and its gradient."
)
DLOGISTIC_LOSS_SUCCESS = "dlogistic_loss is right: the gradient on {n} random cases."

EXPECTED_PROBABILITIES = "logistic(z) = {values}"
EXPECTED_MODEL_PROBABILITIES = "logistic(w * x + b) = {values}"
EXPECTED_LOGISTIC_LOSS = "the loss -sum(y log p + (1 - y) log(1 - p)) = {value:.6g}"
EXPECTED_LOGISTIC_GRADIENT = "the gradient {gradient}"

HINT_LOGISTIC_SIGN = "the sign of the exponent is flipped: logistic(z) = 1 / (1 + exp(-z))."
HINT_LOGISTIC_IDENTITY = "apply the logistic function: 1 / (1 + jnp.exp(-z))."
HINT_LOGISTIC_OTHER = "logistic(z) = 1 / (1 + jnp.exp(-z)): it squashes every z into (0, 1)."
HINT_LOGISTIC_DIFFERENTIABLE = (
    "JAX could not differentiate logistic: use jnp.exp, not math.exp or np.exp."
)
HINT_MODEL_NO_LOGISTIC = (
    "these are w * x + b, the linear model's predictions: pass them through logistic."
)
HINT_MODEL_BIAS_OUTSIDE = (
    "b is added after the logistic: the bias belongs inside, logistic(w * x + b)."
)
HINT_MODEL_BIAS_SIGN = "the bias has the wrong sign: logistic(w * x + b)."
HINT_MODEL_OTHER = (
    "read w and b from theta (theta['w'], theta['b']) and return logistic(w * x + b)."
)
HINT_MODEL_DIFFERENTIABLE = (
    "JAX could not differentiate your logistic_model with respect to theta: keep to jnp "
    "arithmetic on w, b and x."
)
HINT_LOSS_MEAN = (
    "that is the mean over the points; this chapter's logistic loss is their sum (so its step "
    "sizes such as 0.0001 fit): use jnp.sum."
)
HINT_LOSS_NEGATED = (
    "the sign is flipped: the log-likelihood is at most 0, and the loss is its negative, "
    "-sum(y log p + (1 - y) log(1 - p))."
)
HINT_LOSS_SWAPPED = (
    "labels and probabilities are swapped: binary_cross_entropy(y_true, y_pred) takes the "
    "labels y first and the predictions model(theta, x) second."
)
HINT_LOSS_ONE_TERM = (
    "only half of the likelihood: add (1 - y) * log(1 - p) for the points labelled 0."
)
HINT_LOSS_IGNORES_MODEL = (
    "the loss must call the model it is given, model(theta, x), not one model by name."
)
HINT_LOSS_OTHER = (
    "p = model(theta, x); the loss is -jnp.sum(y * jnp.log(p) + (1 - y) * jnp.log(1 - p)), "
    "or -binary_cross_entropy(y, p)."
)
HINT_LOSS_GRADIENT = (
    "the value is right but its gradient is not: compute it with jnp operations on "
    "model(theta, x) throughout, so that JAX can follow it."
)
HINT_LOGISTIC_GRADIENT_SIGN = (
    "the gradient points the wrong way: it is grad(logistic_loss), the gradient of the loss "
    "itself (no minus sign)."
)
HINT_LOGISTIC_GRADIENT_MEAN = (
    "the gradient is {n} times too small: it must be the gradient of the summed loss."
)
HINT_LOGISTIC_GRADIENT_OTHER = "dlogistic_loss = grad(logistic_loss): no more, no less."
HINT_LOGISTIC_GRADIENT_VALUE = (
    "that is one number, the loss: dlogistic_loss must return the gradient, one entry per "
    "parameter: dlogistic_loss = grad(logistic_loss)."
)
HINT_LOSS_NOT_FINITE = (
    "the loss is not finite: a log of 0. Take the log of the probabilities p = model(theta, x) "
    "(labels first in binary_cross_entropy(y, p)), and write log(1 - p), not log(1) - p."
)
