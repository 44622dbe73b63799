"""What every checker shares: the hidden-case loop and the failure report.

Each ``check_*`` function runs a student's function on hidden cases and
compares it with a reference.  On success it returns a short report; on the
first wrong answer it raises :class:`ExerciseFailed`, naming the input, the
expected value and what came back, never the reference code itself.
The chapter that teaches each exercise is named in its checker's docstring.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class ExerciseFailed(AssertionError):
    """A student's answer gave a wrong result on a hidden case."""


@dataclass
class Passed:
    exercise: str
    cases: int

    def __repr__(self) -> str:
        return f"✔ {self.exercise}: all {self.cases} hidden cases pass"

    _repr_pretty_ = lambda self, p, cycle: p.text(repr(self))  # noqa: E731


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        if value.size <= 36:
            return f"array of shape {value.shape}, dtype {value.dtype}:\n{np.array2string(value, precision=4)}"
        return f"array of shape {value.shape}, dtype {value.dtype}"
    return repr(value)


def _same(expected, got, tol: float) -> bool:
    if isinstance(expected, np.ndarray):
        got = np.asarray(got)
        if got.shape != expected.shape:
            return False
        return bool(np.allclose(got.astype(np.float64), expected.astype(np.float64), atol=tol, equal_nan=True))
    try:
        got = float(got)
    except (TypeError, ValueError):
        return False
    if np.isnan(expected):
        return bool(np.isnan(got))
    return abs(got - expected) <= tol


def check_answered(exercise: str, answer) -> None:
    """For checkers that take a value (a predicted shape, a count): the student edition's stub is ``...``."""
    if answer is ...:
        raise ExerciseFailed(f"{exercise}: not answered yet (the answer is still `...`)")


def _check(exercise: str, student_fn, cases, reference, tol: float = 1e-6) -> Passed:
    for number, args in enumerate(cases, 1):
        expected = reference(*args)
        shown = "\n".join(f"  argument {i + 1}: {_describe(a)}" for i, a in enumerate(args))
        try:
            got = student_fn(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])
        except NotImplementedError:
            raise ExerciseFailed(f"{exercise}: not answered yet (the function raises NotImplementedError)") from None
        except Exception as err:  # the student's bug: say on which input, keep their traceback
            raise ExerciseFailed(f"{exercise}: hidden case {number} of {len(cases)} raised "
                                 f"{type(err).__name__}: {err}\ninput:\n{shown}") from err
        if not _same(expected, got, tol):
            raise ExerciseFailed(f"{exercise}: hidden case {number} of {len(cases)} is wrong.\n"
                                 f"input:\n{shown}\nexpected: {_describe(expected)}\ngot: {_describe(got)}")
    return Passed(exercise, len(cases))
