"""The colours the two diagrams share, so that ``w`` and ``b`` look alike in both."""

__all__ = ["ACTIVATION_COLOR", "BIAS_COLOR", "INPUT_COLOR", "OUTPUT_COLOR", "WEIGHT_COLOR"]

#: Inputs: the ``X`` box and the input nodes.
INPUT_COLOR = "#9e9e9e"
#: Weights: the ``w`` box and the weight edges.
WEIGHT_COLOR = "#1f77b4"
#: Bias: the ``b`` box, the constant-1 node and the bias edges.
BIAS_COLOR = "#2ca02c"
#: Outputs: the ``Y`` box and the output nodes.
OUTPUT_COLOR = "#9467bd"
#: The identity activation (orange, as in the lesson's picture).
ACTIVATION_COLOR = "#ff7f0e"
