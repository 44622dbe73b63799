"""Checkers for chapter 2 (FCN): the bilinear kernel, a stack's shape and receptive field,
the transposed convolution's output size, and a fully connected layer made a convolution."""

from __future__ import annotations

import numpy as np

from .core import ExerciseFailed, Passed, check_answered, run_cases

__all__ = ["PREDICTION_STACK", "check_bilinear_kernel", "check_linear_to_conv", "check_stack_prediction",
           "check_transposed_output_size"]


def check_bilinear_kernel(student_fn) -> Passed:
    """Chapter 2, exercise "the bilinear kernel": ``bilinear_kernel(size)`` -> ``size×size`` weights.

    The kernel of a transposed convolution that up-samples bilinearly by
    ``f = (size + 1) // 2`` (size ``2f`` for stride ``f``): the outer product of
    the 1-D tent ``1 - |i - c| / f``, centred at ``c = (size - 1) / 2``.
    Odd sizes are checked too.
    """
    cases = [(size,) for size in (4, 2, 3, 1, 5, 8, 16, 7, 64)]

    def reference(size):
        factor = (size + 1) // 2
        taps = 1 - np.abs(np.arange(size) - (size - 1) / 2) / factor
        return np.outer(taps, taps)

    return run_cases("bilinear_kernel", student_fn, cases, reference, names=("size",))


def check_transposed_output_size(student_fn) -> Passed:
    """Chapter 2, exercise "the size after a transposed convolution":
    ``transposed_output_size(size, kernel, stride, padding, output_padding)`` -> int.

    The size PyTorch's ``ConvTranspose2d`` returns (dilation 1):
    ``(size - 1) * stride - 2 * padding + kernel + output_padding``.
    """
    cases = [(2, 64, 32, 0, 0),    # the original FCN-32s up-sampling, before its crop
             (2, 64, 32, 16, 0),   # coursekit's: kernel 2f, stride f, padding f/2
             (7, 4, 2, 1, 0), (1, 16, 8, 4, 0), (5, 3, 2, 1, 0), (5, 3, 2, 1, 1),
             (10, 1, 1, 0, 0), (3, 5, 1, 2, 0), (12, 4, 2, 0, 0)]

    def reference(size, kernel, stride, padding, output_padding):
        return float((size - 1) * stride - 2 * padding + kernel + output_padding)

    return run_cases("transposed_output_size", student_fn, cases, reference, tol=0,
                     names=("size", "kernel", "stride", "padding", "output_padding"))


def check_linear_to_conv(student_fn) -> Passed:
    """Chapter 2, exercise "a fully connected layer is a convolution":
    ``linear_to_conv(weight, channels, size)`` -> ``out×channels×size×size``.

    ``weight`` is a PyTorch ``nn.Linear`` weight of shape ``out×(channels·size·size)``
    that reads a ``channels×size×size`` map flattened as PyTorch flattens it
    (channel first, then row, then column); the answer is the ``Conv2d`` weight
    that computes the same numbers on that map.
    """
    rng = np.random.default_rng(2024)
    cases = [(np.arange(12, dtype=np.float32).reshape(1, 12), 3, 2),
             (rng.normal(size=(2, 8)).astype(np.float32), 2, 2),
             (rng.normal(size=(4, 27)).astype(np.float32), 3, 3),
             (rng.normal(size=(3, 5 * 49)).astype(np.float32), 5, 7)]

    def reference(weight, channels, size):
        return weight.reshape(weight.shape[0], channels, size, size)

    return run_cases("linear_to_conv", student_fn, cases, reference, names=("weight", "channels", "size"))


# The stack of the exercise "predict a shape": (kind, out_channels, kernel, stride, padding) per layer,
# applied to a batch of one 3-channel image of 100 rows and 84 columns.  ReLUs change no shape and are left out.
PREDICTION_STACK = (("conv", 16, 3, 1, 1), ("conv", 16, 3, 1, 1), ("pool", None, 2, 2, 0),
                    ("conv", 32, 3, 1, 1), ("pool", None, 2, 2, 0),
                    ("conv", 64, 5, 1, 0), ("pool", None, 2, 2, 0),
                    ("conv", 10, 1, 1, 0))
_PREDICTION_INPUT = (1, 3, 100, 84)


def _stack_answer(stack=PREDICTION_STACK, shape=_PREDICTION_INPUT):
    n, channels, height, width = shape
    jump, field = 1, 1
    for _, out, kernel, stride, padding in stack:
        height = (height + 2 * padding - kernel) // stride + 1
        width = (width + 2 * padding - kernel) // stride + 1
        channels = out or channels
        field += (kernel - 1) * jump
        jump *= stride
    return (n, channels, height, width), jump, field


def check_stack_prediction(answer) -> Passed:
    """Chapter 2, exercise "predict a shape": ``(output_shape, output_stride, receptive_field)`` of the stack
    :data:`PREDICTION_STACK` for an input of shape ``(1, 3, 100, 84)`` (PyTorch's N×C×H×W).

    Each part is judged on its own; a wrong part gets a hint, not the answer.
    """
    check_answered("stack_prediction", answer)
    if not isinstance(answer, (tuple, list)) or len(answer) != 3:
        raise ExerciseFailed("stack_prediction: answer with a tuple of three things, "
                             "(output_shape, output_stride, receptive_field)")
    shape, stride, field = _stack_answer()
    got_shape, got_stride, got_field = answer
    wrong = []
    try:
        got_shape = tuple(int(s) for s in got_shape)
    except (TypeError, ValueError):
        got_shape = None
    if got_shape is None or len(got_shape) != 4:
        wrong.append("output shape: give all four sizes, (N, C, H, W), as PyTorch orders them")
    elif got_shape != shape:
        hints = []
        if got_shape[:2] != shape[:2]:
            hints.append("N is the batch and C the channels of the last convolution")
        if got_shape[2:] != shape[2:]:
            hints.append("follow height and width separately: a 3×3 convolution with padding 1 keeps the size, "
                         "one without padding removes k - 1 pixels, and a 2×2 pooling halves and rounds down")
        wrong.append(f"output shape {got_shape} is wrong: " + "; ".join(hints))
    if got_stride != stride:
        wrong.append(f"output stride {got_stride!r} is wrong: it is the product of the layers' strides")
    if got_field != field:
        wrong.append(f"receptive field {got_field!r} is wrong: each layer adds (kernel - 1) times the product "
                     "of the strides before it, starting from 1 pixel")
    if wrong:
        raise ExerciseFailed("stack_prediction:\n  " + "\n  ".join(wrong))
    return Passed("stack_prediction", 3)
