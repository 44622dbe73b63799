"""Checkers for chapter 2 (FCN): the bilinear up-sampling's weights, a stack's shape and receptive field,
the transposed convolution's output size, a fully connected layer made a convolution, and FCN-8s's fusion of
scores, the last in the framework the chapter runs."""

from __future__ import annotations

import numpy as np

from .basics import _check_framework
from .core import ExerciseFailed, Passed, as_array_like, check_answered, not_answered, run_cases

__all__ = ["PREDICTION_STACK", "check_bilinear_weights", "check_fcn8s_fusion", "check_linear_to_conv",
           "check_stack_prediction", "check_transposed_output_size"]


LAYOUTS = ("torch", "keras")


def _reference_bilinear_weights(channels: int, factor: int, layout: str) -> np.ndarray:
    from ..models.common import bilinear_kernel

    weights = bilinear_kernel(channels, 2 * factor).astype(np.float64)  # in × out × k × k, one kernel per channel
    return weights if layout == "torch" else weights.transpose(2, 3, 1, 0)


def _in_layout(expected, got, layout: str, layer: str, orders: tuple[str, str]):
    """``got`` as an array of the expected shape, or the reason naming the ``layout``'s order of the axes."""
    got, refused = as_array_like(expected, got)
    if refused is None and got.shape != expected.shape:
        order = orders[0] if layout == "torch" else orders[1]
        refused = f"the weights of a {layout} {layer} are {order}: expected shape {expected.shape}"
    return got, refused


def _compare_bilinear(expected, got, case) -> str | None:
    channels, factor, layout = case
    got, refused = _in_layout(expected, got, layout, "transposed convolution", ("in × out × k × k", "k × k × out × in"))
    if refused:
        return refused
    if np.allclose(got, expected):
        return None
    if channels > 1:
        mixed = np.abs(got).sum(axis=(2, 3) if layout == "torch" else (0, 1))
        if (mixed[~np.eye(channels, dtype=bool)] > 0).any():
            return "a class's up-sampled scores must come from that class alone: every kernel off the diagonal is 0"
    return ""


def check_bilinear_weights(student_fn) -> Passed:
    """Chapter 2, exercise "the bilinear up-sampling's weights": ``bilinear_weights(channels, factor, layout)``.

    The weights of a transposed convolution (kernel ``2·factor``, stride
    ``factor``, padding ``factor / 2``) that up-samples each of ``channels``
    score maps bilinearly, without mixing them: ``channels × channels × k × k``
    for PyTorch's ``ConvTranspose2d`` (in, out, rows, columns), ``k × k ×
    channels × channels`` for Keras' ``Conv2DTranspose`` (rows, columns, out,
    in).  Each kernel is the outer product of the tent ``1 - |i - c| / f``,
    centred at ``c = (k - 1) / 2``; only channel ``c`` feeds channel ``c``.
    """
    cases = [(1, 2, "torch"), (3, 2, "torch"), (2, 4, "keras"), (1, 1, "keras"), (4, 8, "torch"),
             (3, 2, "keras"), (21, 32, "torch"), (2, 16, "keras")]
    return run_cases("bilinear_weights", student_fn, cases, _reference_bilinear_weights, compare=_compare_bilinear,
                     names=("channels", "factor", "layout"))


def check_transposed_output_size(student_fn) -> Passed:
    """Chapter 2, exercise "the size after a transposed convolution":
    ``transposed_output_size(size, kernel, stride, padding, output_padding, dilation)`` -> int.

    The size PyTorch's ``ConvTranspose2d`` returns:
    ``(size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1``.
    """
    cases = [(2, 64, 32, 0, 0, 1),    # the original FCN-32s up-sampling, before its crop
             (2, 64, 32, 16, 0, 1),   # coursekit's: kernel 2f, stride f, padding f/2
             (7, 4, 2, 1, 0, 1), (1, 16, 8, 4, 0, 1), (5, 3, 2, 1, 0, 1), (5, 3, 2, 1, 1, 1),
             (10, 1, 1, 0, 0, 1), (3, 5, 1, 2, 0, 1), (12, 4, 2, 0, 0, 1),
             (6, 3, 1, 0, 0, 2), (4, 3, 2, 1, 1, 3), (9, 5, 2, 2, 0, 2)]  # dilated: the kernel spreads out

    def reference(size, kernel, stride, padding, output_padding, dilation):
        return float((size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1)

    return run_cases("transposed_output_size", student_fn, cases, reference, tol=0,
                     names=("size", "kernel", "stride", "padding", "output_padding", "dilation"))


def _reference_linear_to_conv(weight, channels, size, layout):
    if layout == "torch":  # Linear: out × (C·H·W), flattened channel, row, column
        return weight.reshape(weight.shape[0], channels, size, size)
    return weight.reshape(size, size, channels, weight.shape[1])  # Dense: (H·W·C) × out, flattened row, column, channel


def _compare_linear_to_conv(expected, got, case) -> str | None:
    _, channels, size, layout = case
    got, refused = _in_layout(expected, got, layout, "convolution",
                              ("out × channels × size × size", "size × size × channels × out"))
    if refused:
        return refused
    return None if np.allclose(got, expected) else "the right shape, but the numbers sit in the wrong places"


def check_linear_to_conv(student_fn) -> Passed:
    """Chapter 2, exercise "a fully connected layer is a convolution":
    ``linear_to_conv(weight, channels, size, layout)`` -> the convolution's weight.

    ``layout="torch"``: ``weight`` is an ``nn.Linear`` weight, ``out×(channels·size·size)``,
    reading a ``channels×size×size`` map as ``flatten`` orders it (channel,
    row, column); the answer is the ``Conv2d`` weight ``out×channels×size×size``.
    ``layout="keras"``: ``weight`` is a ``Dense`` kernel, ``(size·size·channels)×out``,
    reading a ``size×size×channels`` map as ``Flatten`` orders it (row,
    column, channel); the answer is the ``Conv2D`` kernel ``size×size×channels×out``.
    Either convolution computes the same numbers on that map as the layer.
    """
    rng = np.random.default_rng(2024)
    cases = [(np.arange(12, dtype=np.float32).reshape(1, 12), 3, 2, "torch"),
             (np.arange(12, dtype=np.float32).reshape(12, 1), 3, 2, "keras"),
             (rng.normal(size=(2, 8)).astype(np.float32), 2, 2, "torch"),
             (rng.normal(size=(27, 4)).astype(np.float32), 3, 3, "keras"),
             (rng.normal(size=(4, 27)).astype(np.float32), 3, 3, "torch"),
             (rng.normal(size=(5 * 49, 3)).astype(np.float32), 5, 7, "keras")]
    return run_cases("linear_to_conv", student_fn, cases, _reference_linear_to_conv, compare=_compare_linear_to_conv,
                     names=("weight", "channels", "size", "layout"))


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


# --- Build it: FCN-8s's fusion of scores, checked against the model's own forward pass (both frameworks) ----

# The up-sampling layers of FCN-8s, in the order its forward pass applies them, and the map each one receives.
_FUSION_LAYERS = (("upscore2", "score_fr"), ("upscore_pool4", "score_pool4"), ("final_upscore", "score_pool3"))
_FUSION_TOLERANCE = 1e-4


class _FusionModel:
    """A narrow FCN-8s of ``framework`` with "trained" ×2 up-samplings, and what the checker needs around it.

    The learned ×2 kernels are moved away from their bilinear start (as training moves them), so that a fixed
    interpolation, or the two layers swapped, gives other scores.  The hidden score maps replace the outputs of
    ``score_fr``, ``score_pool4`` and ``score_pool3`` inside the model's own forward pass, which is the reference;
    each up-sampling layer records the grid of every map it is applied to while the student's function runs.
    """

    def __init__(self, framework: str, num_classes: int, rng):
        from ..models import build
        from ..models.common import bilinear_kernel

        self.framework = framework
        self.model = build("fcn8s", framework, num_classes=num_classes, width=2)
        self.calls: list[tuple[str, tuple[int, int]]] = []
        self.layers = {}
        for name, _ in _FUSION_LAYERS:
            kernel = bilinear_kernel(num_classes, 2 * (8 if name == "final_upscore" else 2)).astype(np.float32)
            if name != "final_upscore":  # the fixed ×8 stays bilinear, as in the model
                kernel = kernel + rng.normal(scale=0.25, size=kernel.shape).astype(np.float32)
            self.layers[name] = self._prepare(name, kernel)

    def _prepare(self, name: str, kernel: np.ndarray):
        """Set the layer's kernel (torch's in × out × k × k) and record its calls; returns the layer."""
        if self.framework == "torch":
            import torch

            layer = getattr(self.model, name)
            with torch.no_grad():
                layer.weight.copy_(torch.from_numpy(kernel))
            grid = lambda x: tuple(x.shape[-2:])  # noqa: E731
            method = "forward"
        else:
            layer = self.model.get_layer(name)
            layer.set_weights([kernel.transpose(2, 3, 1, 0)])
            grid = lambda x: tuple(x.shape[1:3])  # noqa: E731
            method = "call"
        original = getattr(layer, method)

        def recorded(x, *args, **kwargs):
            if len(getattr(x, "shape", ())) == 4:
                self.calls.append((name, tuple(int(s) for s in grid(x))))
            return original(x, *args, **kwargs)

        setattr(layer, method, recorded)
        return layer

    def tensor(self, array: np.ndarray):
        """An N×C×H×W array as the framework's tensor, in the framework's layout."""
        if self.framework == "torch":
            import torch

            return torch.from_numpy(array.copy())
        import keras

        return keras.ops.convert_to_tensor(array.transpose(0, 2, 3, 1).copy())

    def numpy(self, tensor) -> np.ndarray:
        """A tensor of the framework (or anything array-like) as a NumPy array, layout unchanged."""
        from .twins import as_numpy

        return as_numpy(tensor, self.framework)

    def forward(self, maps: dict[str, np.ndarray], size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The model's logits for an image of ``size`` whose score maps are ``maps``, and the map before the crop."""
        n = len(maps["score_fr"])
        if self.framework == "torch":
            import torch

            captured = {}
            hooks = [getattr(self.model, name).register_forward_hook(lambda *_, name=name: self.tensor(maps[name]))
                     for name in maps]
            hooks.append(self.model.final_upscore.register_forward_hook(
                lambda module, args, output: captured.setdefault("full", output)))
            try:
                with torch.no_grad():
                    logits = self.model.eval()(torch.zeros(n, 3, *size))
            finally:
                for hook in hooks:
                    hook.remove()
            return self.numpy(logits), self.numpy(captured["full"])
        import keras

        names = list(maps)
        tail = keras.Model([self.model.get_layer(name).output for name in names] + [self.model.input],
                           [self.model.get_layer("final_upscore").output, self.model.output])
        image = keras.ops.zeros((n, *size, 3))
        full, logits = tail([self.tensor(maps[name]) for name in names] + [image], training=False)
        return self.numpy(logits), self.numpy(full)

    def fuse(self, maps: dict[str, np.ndarray], size, skips=("score_pool4", "score_pool3")) -> np.ndarray:
        """The fusion with some skips left out, cropped: the answers of the mistakes the checker names."""
        scores = self.layers["upscore2"](self.tensor(maps["score_fr"]))
        if "score_pool4" in skips:
            scores = scores + self.tensor(maps["score_pool4"])
        scores = self.layers["upscore_pool4"](scores)
        if "score_pool3" in skips:
            scores = scores + self.tensor(maps["score_pool3"])
        return self.crop(self.numpy(self.layers["final_upscore"](scores)), size)

    def crop(self, full: np.ndarray, size, offset=(0, 0)) -> np.ndarray:
        (top, left), (height, width) = offset, size
        if self.framework == "torch":
            return full[..., top:top + height, left:left + width]
        return full[:, top:top + height, left:left + width, :]

    def spatial(self, shape) -> tuple:
        return tuple(shape[-2:]) if self.framework == "torch" else tuple(shape[1:3])


def _grids(size) -> dict[str, tuple[int, int]]:
    """The grid of each score map for an image of ``size``, padded to a multiple of 32 inside the model."""
    padded = tuple(-(-side // 32) * 32 for side in size)
    return {"padded": padded, **{name: tuple(side // stride for side in padded)
                                 for name, stride in (("score_fr", 32), ("score_pool4", 16), ("score_pool3", 8))}}


def _fusion_input(maps, size, framework) -> str:
    grids, (n, num_classes) = _grids(size), maps["score_fr"].shape[:2]
    layout = "N×C×H×W" if framework == "torch" else "N×H×W×C"
    lines = [f"input: the score maps of a batch of {n} image{'s' * (n > 1)} of {size[0]}×{size[1]} pixels "
             f"(padded inside the model to {grids['padded'][0]}×{grids['padded'][1]}), {num_classes} classes, "
             f"{framework} tensors ({layout})"]
    for name, array in maps.items():
        shape = array.shape if framework == "torch" else array.transpose(0, 2, 3, 1).shape
        lines.append(f"  {name}: shape {tuple(shape)}")
    return "\n".join([*lines, f"  size: {size}"])


def _close(got: np.ndarray, expected: np.ndarray) -> bool:
    return got.shape == expected.shape and bool(np.allclose(got, expected, rtol=_FUSION_TOLERANCE,
                                                            atol=_FUSION_TOLERANCE))


def _fusion_calls_wrong(calls, size) -> list[str]:
    """What is wrong with the up-sampling layers the student's function applied: one line a problem."""
    grids = _grids(size)
    grid_names = {grid: f"the grid of {name}" for name, grid in grids.items() if name != "padded"}
    called = {name for name, _ in calls}
    wrong = []
    for name, source in _FUSION_LAYERS:
        if name not in called:
            if name == "final_upscore":
                wrong.append("the model's final_upscore was never called: up-sample the fused scores with the "
                             "model's own layer (a transposed convolution, which is not a resize at the borders)")
            else:
                wrong.append(f"the model's {name} was never called: FCN-8s's ×2 up-samplings are learned layers "
                             "with their own (trained) weights, and a fixed interpolation gives other scores")
        for grid in sorted({grid for layer, grid in calls if layer == name and grid != grids[source]}):
            where = f", {grid_names[grid]}" if grid in grid_names else ""
            wrong.append(f"the model's {name} was applied to a {grid[0]}×{grid[1]} map{where}: "
                         "each up-sampling has its own place in the chain, follow the maps from the coarsest grid")
    return wrong


def _diagnose_fusion(got, expected, full, calls, fcn: _FusionModel, maps, size) -> str | None:
    """None when ``got`` is right; else what is wrong, first line a headline, further lines details."""
    if got.shape == expected.shape:
        if _close(got, expected):
            return None
    elif got.ndim == 4 and fcn.spatial(got.shape) == _grids(size)["padded"]:
        done = " (the scores themselves are right)" if _close(got, fcn.numpy(full)) else ""
        return (f"the scores have the padded image's size{done}: the model pads its input to a multiple of 32, "
                f"and its output has the input's height and width\n"
                f"expected: shape {expected.shape}\ngot: shape {got.shape}")
    else:
        layout = "N×C×H×W" if fcn.framework == "torch" else "N×H×W×C"
        return f"the scores have the wrong shape\nexpected: shape {expected.shape}, {layout}\ngot: shape {got.shape}"
    for skips, missing in ((("score_pool4",), "score_pool3 was never added: this is FCN-16s's fusion"),
                           (("score_pool3",), "score_pool4 was never added"),
                           ((), "neither skip was added: this is FCN-32s's scores, up-sampled in three steps")):
        if _close(got, fcn.fuse(maps, size, skips)):
            return f"{missing}; FCN-8s adds the scores of both pool4 and pool3"
    padded, difference = _grids(size)["padded"], float(np.abs(got - expected).max())
    for offset in {(padded[0] - size[0], padded[1] - size[1]), ((padded[0] - size[0]) // 2, (padded[1] - size[1]) // 2),
                   (0, padded[1] - size[1]), (padded[0] - size[0], 0)} - {(0, 0)}:
        if _close(got, fcn.crop(fcn.numpy(full), size, offset)):
            return ("the crop keeps another part of the up-sampled scores than the one that covers the image: "
                    "on which sides did the model pad it?")
    wrong = _fusion_calls_wrong(calls, size)
    if wrong:
        return "\n".join([*wrong, f"largest difference from the model's scores: {difference:.3g}"])
    return (f"the scores differ from the model's by up to {difference:.3g}, though each up-sampling was applied "
            "to a map of the right grid: is each skip added once, unscaled, and the result cropped (not resized) "
            "to the input's size?")


def _fusion_crash_hint(err: Exception, grids, framework: str) -> str:
    """A line on what the error is likely about: maps of different grids added, or a layer not found."""
    message = str(err).lower()
    if isinstance(err, AttributeError) or "no such layer" in message:
        if framework == "torch":
            return ("\nthe model is a torch.nn.Module: its layers are its attributes, named as in the chapter "
                    "(upscore2, upscore_pool4, final_upscore)")
        return ("\nthe model is a keras.Model: its get_layer method finds a layer by its name, as in the chapter "
                "(upscore2, upscore_pool4, final_upscore)")
    if any(word in message for word in ("size", "shape", "broadcast", "match")):
        shapes = ", ".join(f"{name} {grids[name][0]}×{grids[name][1]}"
                           for name in ("score_fr", "score_pool4", "score_pool3"))
        return (f"\nthe maps lie on grids 32, 16 and 8 times coarser than the padded image ({shapes}): "
                "only maps of the same height and width can be added")
    return ""


def check_fcn8s_fusion(student_fn, framework: str = "torch") -> Passed:
    """Chapter 2, exercise "FCN-8s's fusion of scores":
    ``fuse_fcn8s(model, score_fr, score_pool4, score_pool3, size)`` -> the class scores at the input's size.

    ``model`` is a narrow FCN-8s of ``framework`` (``coursekit.models.build("fcn8s", ...)``), the three maps
    are the framework's tensors (torch ``N×C×H×W``, Keras ``N×H×W×C``) on the grids of pool5, pool4 and pool3
    of the image padded to a multiple of 32, and ``size`` is the image's ``(height, width)``.  The answer must
    equal the model's own forward pass on those maps: its learned ×2 up-samplings ``upscore2`` and
    ``upscore_pool4`` with the skips added, its fixed ``final_upscore``, and the crop.  The checker's model has
    ×2 kernels moved away from bilinear, as training moves them, and hidden sizes that 32 does not divide.
    """
    _check_framework(framework)
    rng = np.random.default_rng(808)
    cases = [(2, 3, (45, 70)), (1, 5, (33, 97)), (3, 2, (100, 50))]
    for number, (n, num_classes, size) in enumerate(cases, 1):
        where = f"fuse_fcn8s: hidden case {number} of {len(cases)}"
        grids = _grids(size)
        maps = {name: rng.normal(size=(n, num_classes, *grids[name])).astype(np.float32)
                for name in ("score_fr", "score_pool4", "score_pool3")}
        fcn = _FusionModel(framework, num_classes, rng)
        expected, full = fcn.forward(maps, size)
        shown = _fusion_input(maps, size, framework)
        fcn.calls.clear()
        try:
            got = student_fn(fcn.model, *(fcn.tensor(maps[name]) for name in maps), size)
        except NotImplementedError:
            raise not_answered("fuse_fcn8s") from None
        except Exception as err:  # the student's bug: say on which input, with a hint where one fits
            hint = _fusion_crash_hint(err, grids, framework)
            raise ExerciseFailed(f"{where} raised {type(err).__name__}: {err}\n{shown}" + hint) from err
        calls = list(fcn.calls)  # before the checker's own calls to the layers
        try:
            got = fcn.numpy(got)
        except Exception as err:  # noqa: BLE001 - not a tensor, whatever it is
            raise ExerciseFailed(f"{where}: return the scores as a {framework} tensor, got {type(got).__name__} "
                                 f"({err})\n{shown}") from None
        reason = _diagnose_fusion(got, expected, full, calls, fcn, maps, size)
        if reason is not None:
            headline, *details = reason.splitlines()
            raise ExerciseFailed("\n".join([f"{where} is wrong: {headline}", shown, *details]))
    return Passed("fuse_fcn8s", len(cases))
