"""For the build-it exercises: a student's block checked against the same block of coursekit's model.

Chapters 3 and 4 ask the student to build one block of a network (a SegNet
decoder stage, a U-Net decoder level) in the chapter's framework.  The
checker builds coursekit's model narrow, gives its batch norms "trained"
statistics, copies the block's weights into the student's, in the order the
layers hold them, and compares the two on the block's real inputs inside
the model.  These helpers are that common part; each chapter's checker adds
its own cases and the mistakes it names.
"""

from __future__ import annotations

import numpy as np

from .core import ExerciseFailed


def weights_of(module, framework: str) -> list[tuple[str, np.ndarray]]:
    """A module's or a layer list's weights as ``(name, array)`` in the order they are held.

    torch: the state dict, running statistics included, without the batch
    counters; Keras: ``weights`` (kernel, bias, then batch norm's gamma, beta,
    moving mean and variance), of a model or of a list of layers.
    """
    if framework == "torch":
        return [(name, value.detach().cpu().numpy()) for name, value in module.state_dict().items()
                if not name.endswith("num_batches_tracked")]
    layers = module if isinstance(module, (list, tuple)) else [module]
    return [(getattr(v, "path", v.name), np.asarray(v.numpy())) for layer in layers for v in layer.weights]


def _listing(weights: list[tuple[str, np.ndarray]]) -> str:
    lines = [f"    {name}: {'×'.join(map(str, array.shape)) or 'scalar'}" for name, array in weights]
    return "\n".join(lines) or "    none"


def copy_weights_in_order(student, reference: list[tuple[str, np.ndarray]], framework: str, where: str,
                          layout: str) -> None:
    """Copy ``reference``'s arrays into ``student``'s weights, one for one in order; else say what differs.

    ``layout`` tells the student, in words, which layers the block must hold
    in which order (the report lists both sides' weights and shapes).
    """
    mine = weights_of(student, framework)
    if [a.shape for _, a in mine] != [a.shape for _, a in reference]:
        raise ExerciseFailed(f"{where}: the block does not hold the weights it should ({layout})\n"
                             f"  yours, in order:\n{_listing(mine)}\n  expected, in order:\n{_listing(reference)}")
    if framework == "torch":
        import torch

        targets = [value for name, value in student.state_dict().items() if not name.endswith("num_batches_tracked")]
        with torch.no_grad():
            for target, (_, array) in zip(targets, reference):
                target.copy_(torch.from_numpy(array))
    else:
        for variable, (_, array) in zip(student.weights, reference):
            variable.assign(array)


def randomise_batch_norms(model, framework: str, rng) -> None:
    """Give every batch norm statistics and affine terms away from 1 and 0, as training does.

    With the initial ones (mean 0, variance 1, scale 1, shift 0) batch norm in
    inference mode is nearly the identity, and a block without it would pass.
    """
    def values(channels):
        return [rng.uniform(0.5, 1.5, channels), rng.normal(0, 0.2, channels),
                rng.normal(0, 0.2, channels), rng.uniform(0.5, 1.5, channels)]

    if framework == "torch":
        import torch

        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    gamma, beta, mean, variance = values(module.num_features)
                    for tensor, value in zip((module.weight, module.bias, module.running_mean, module.running_var),
                                             (gamma, beta, mean, variance)):
                        tensor.copy_(torch.from_numpy(value.astype(np.float32)))
        return
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([v.astype(np.float32) for v in values(layer.get_weights()[0].shape[0])])


def as_numpy(tensor, framework: str) -> np.ndarray:
    """A framework tensor (or anything array-like) as a float32 NumPy array, layout unchanged."""
    if framework == "torch":
        import torch

        if isinstance(tensor, torch.Tensor):
            return tensor.detach().cpu().numpy().astype(np.float32)
        return np.asarray(tensor, dtype=np.float32)
    import keras

    return np.asarray(keras.ops.convert_to_numpy(tensor), dtype=np.float32)


def close(got: np.ndarray, expected: np.ndarray, tol: float = 1e-4) -> bool:
    """Equal up to float32 rounding, relative to the largest value expected."""
    return got.shape == expected.shape and float(np.abs(got - expected).max(initial=0)) <= tol * max(
        1.0, float(np.abs(expected).max(initial=0)))
