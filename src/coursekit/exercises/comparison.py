"""Checkers for chapter 7 (Comparing the architectures): multiply-adds, the Pareto front, a time budget, and
whether two rankings agree."""

from __future__ import annotations

import math

import numpy as np

from .core import ExerciseFailed, Passed, check_answered, run_cases

__all__ = ["check_epochs_for_budget", "check_fewest_multiply_adds", "check_pairs_in_same_order",
           "check_pareto_front"]

# The models chapter 7 compares, as build() names them.
COMPARED = ("fcn8s", "segnet", "unet", "unet_bn", "resnet34_unet")


def _pareto_front(costs, qualities) -> np.ndarray:
    costs, qualities = np.asarray(costs, float), np.asarray(qualities, float)
    front = []
    for i in range(len(costs)):
        better_or_equal = (costs <= costs[i]) & (qualities >= qualities[i])
        strictly = (costs < costs[i]) | (qualities > qualities[i])
        if not np.any(better_or_equal & strictly):
            front.append(i)
    return np.array(front, dtype=np.int64)


def check_pareto_front(student_fn) -> Passed:
    """Chapter 7, exercise "the models worth considering": ``pareto_front(costs, qualities)``.

    Returns the sorted indices of the models that no other model beats on both
    counts: none is at most as costly *and* at least as good, and strictly
    better on one of the two.  Lower cost is better, higher quality is better.
    """
    cases = [
        (np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.7, 0.9])),  # every one a trade-off
        (np.array([1.0, 2.0, 3.0]), np.array([0.9, 0.7, 0.5])),  # the cheapest is also the best
        (np.array([2.0, 2.0, 1.0]), np.array([0.8, 0.6, 0.6])),  # same cost, worse: dominated
        (np.array([1.0, 3.0, 3.0]), np.array([0.5, 0.8, 0.8])),  # two identical models: both stay
        (np.array([5.0, 1.0, 4.0, 2.0, 3.0]), np.array([0.81, 0.40, 0.79, 0.70, 0.70])),
        (np.array([0.012, 0.034, 0.051, 0.020, 0.048]), np.array([0.62, 0.78, 0.77, 0.70, 0.80])),
        (np.array([7.0]), np.array([0.3])),
    ]
    return run_cases("pareto_front", student_fn, cases, _pareto_front, names=("costs", "qualities"))


def _epochs_for_budget(budget, first_epoch, per_epoch) -> int:
    if budget < first_epoch:
        return 0
    return 1 + int(math.floor((budget - first_epoch) / per_epoch + 1e-9))


def check_epochs_for_budget(student_fn) -> Passed:
    """Chapter 7, exercise "equal time instead of equal epochs": ``epochs_for_budget(budget, first_epoch, per_epoch)``.

    The number of whole epochs that finish within ``budget`` seconds when the
    first epoch takes ``first_epoch`` seconds (start-up, tracing) and every
    later one ``per_epoch``; 0 when not even the first one fits.
    """
    cases = [(60.0, 10.0, 5.0), (100.0, 4.0, 8.0), (9.5, 10.0, 2.0), (10.0, 10.0, 2.0), (12.0, 10.0, 2.0),
             (13.9, 10.0, 2.0), (300.0, 2.5, 0.5), (45.0, 20.0, 30.0), (1.0, 0.25, 0.25)]
    return run_cases("epochs_for_budget", student_fn, cases, _epochs_for_budget,
                     names=("budget", "first_epoch", "per_epoch"))


def check_fewest_multiply_adds(answer, width: int, size: int = 512) -> Passed:
    """Chapter 7, exercise "work per image": the model that does the fewest multiply-adds on a slice.

    ``answer`` names one of the compared models as ``build`` spells it; each is
    built at ``width`` (one input channel, two classes; in torch where it is
    installed, else in Keras: twins count the same) and its convolutions
    counted on one ``size``×``size`` slice.
    """
    import importlib.util

    from ..models import build, count_multiply_adds

    check_answered("fewest multiply-adds", answer)
    if answer not in COMPARED:
        raise ExerciseFailed(f"fewest multiply-adds: {answer!r} is not one of the compared models {list(COMPARED)}")
    cases = [(width, size), (2 * width, size // 2)]  # the chapter's case, and a wider network on a smaller slice
    framework = "torch" if importlib.util.find_spec("torch") is not None else "keras"
    for case_width, case_size in cases:
        counts = {name: count_multiply_adds(build(name, framework, in_channels=1, num_classes=2, width=case_width),
                                            (1, case_size, case_size)) for name in COMPARED}
        if answer != min(counts, key=counts.get):
            raise ExerciseFailed(f"fewest multiply-adds: {answer!r} does {counts[answer] / 1e9:.2f} billion on a "
                                 f"{case_size}×{case_size} slice at width {case_width}; another model does fewer. "
                                 "Look at how early each network leaves full resolution.")
    return Passed("fewest multiply-adds", len(cases))


def _pairs_in_same_order(first, second) -> float:
    rank = {model: place for place, model in enumerate(second)}
    pairs = [(a, b) for i, a in enumerate(first) for b in first[i + 1:]]
    return sum(rank[a] < rank[b] for a, b in pairs) / len(pairs)


def check_pairs_in_same_order(student_fn) -> Passed:
    """Chapter 7, exercise "do the two datasets agree?": ``pairs_in_same_order(first, second)``.

    ``first`` and ``second`` order the same models (at least two), best first; the answer is the
    fraction of the pairs of models that both put the same way round (1: the same order, 0: one
    the reverse of the other; Kendall's tau is twice it, minus one).
    """
    cases = [
        (["a", "b", "c"], ["a", "b", "c"]),  # the same order
        (["a", "b", "c", "d"], ["d", "c", "b", "a"]),  # reversed
        (["a", "b", "c", "d"], ["b", "a", "c", "d"]),  # one neighbouring swap: 5 of 6 pairs
        (["a", "b", "c", "d"], ["d", "a", "b", "c"]),  # the last moved to the front: 3 of 6
        (["x", "y"], ["y", "x"]),
        (["unet_bn", "resnet34_unet", "unet", "fcn8s", "segnet"],
         ["unet_bn", "fcn8s", "segnet", "unet", "resnet34_unet"]),
        (["p", "q", "r", "s", "t", "u"], ["q", "p", "u", "r", "s", "t"]),
    ]
    return run_cases("pairs_in_same_order", student_fn, cases, _pairs_in_same_order, names=("first", "second"))
