"""What every checker shares: the hidden-case loop and the failure report.

Each ``check_*`` function runs a student's function on hidden cases and
compares it with a reference.  On success it returns a short report; on the
first wrong answer it raises :class:`ExerciseFailed`, naming the input, the
expected value and what came back, never the reference code itself.
The chapter that teaches each exercise is named in its checker's docstring.

:func:`run_cases` is that loop, once for all checkers: a checker gives its
cases, a reference and, where "equal" needs more than ``allclose``, a
``compare`` hook that says what is wrong with an answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


class ExerciseFailed(AssertionError):
    """A student's answer gave a wrong result on a hidden case."""


class _Verdict:
    """What a checker returns when it does not raise: a notebook shows it as its one-line ``repr``."""

    def _repr_pretty_(self, p, cycle):
        p.text(repr(self))


@dataclass(repr=False)
class Passed(_Verdict):
    exercise: str
    cases: int

    def __repr__(self) -> str:
        return f"✔ {self.exercise}: all {self.cases} hidden cases pass"


@dataclass(repr=False)
class NotChecked(_Verdict):
    """A checker that cannot run here (the framework it checks is not installed): it says so instead of failing."""
    exercise: str
    reason: str

    def __repr__(self) -> str:
        return f"– {self.exercise}: not checked here: {self.reason}"


# compare(expected, got, case) -> None when ``got`` is right, else why it is wrong: "" when the
# expected and the returned values, shown in the report, say it all; the reason's first line heads
# the report, further lines follow the input.  ``case`` is the hidden input, as given to the student.
Compare = Callable[[object, object, tuple], "str | None"]


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        if value.size <= 36:
            return f"array of shape {value.shape}, dtype {value.dtype}:\n{np.array2string(value, precision=4)}"
        return f"array of shape {value.shape}, dtype {value.dtype}"
    if isinstance(value, (tuple, list)) and 0 < len(value) <= 4 and any(isinstance(v, np.ndarray) for v in value):
        items = "\n".join(f"  [{i}] " + _describe(v).replace("\n", "\n      ") for i, v in enumerate(value))
        return f"a {type(value).__name__} of {len(value)}:\n{items}"
    return repr(value)


def _same(expected, got, tol: float) -> bool:
    if isinstance(expected, np.ndarray):
        try:
            got = np.asarray(got, dtype=np.float64)
        except (TypeError, ValueError):  # ragged lists, strings, None
            return False
        if got.shape != expected.shape:
            return False
        return bool(np.allclose(got, expected.astype(np.float64), atol=tol, equal_nan=True))
    try:
        got = float(got)
    except (TypeError, ValueError):
        return False
    if np.isnan(expected):
        return bool(np.isnan(got))
    return abs(got - expected) <= tol


def close(tol: float = 1e-6) -> Compare:
    """The default comparison: arrays of the expected shape and numbers within ``tol``; ``nan`` matches ``nan``."""
    def compare(expected, got, case) -> str | None:
        return None if _same(expected, got, tol) else ""
    return compare


def as_array_like(expected: np.ndarray, got) -> tuple[np.ndarray | None, str | None]:
    """For compare hooks: ``got`` as a float64 array, or None and the reason it cannot be one."""
    try:
        return np.asarray(got, dtype=np.float64), None
    except (TypeError, ValueError):
        return None, f"return an array of shape {expected.shape}, got {type(got).__name__}"


def not_answered(exercise: str) -> ExerciseFailed:
    """The failure a stub's ``NotImplementedError`` becomes: the student edition's function is not written yet."""
    return ExerciseFailed(f"{exercise}: not answered yet (the function raises NotImplementedError)")


def check_answered(exercise: str, answer) -> None:
    """For checkers that take a value (a predicted shape, a count): the student edition's stub is ``...``."""
    if answer is ...:
        raise ExerciseFailed(f"{exercise}: not answered yet (the answer is still `...`)")


def _show_input(case: tuple, names: Sequence[str] | None) -> str:
    labels = names or [f"argument {i + 1}" for i in range(len(case))]
    return "\n".join(f"  {label}: {_describe(value)}" for label, value in zip(labels, case))


def _fresh(case: tuple) -> list:
    """Copies of the arrays, so that an answer that writes into its input cannot change the case."""
    return [value.copy() if isinstance(value, np.ndarray) else value for value in case]


def _report(where: str, reason: str, shown_input: str, values) -> str:
    """The reason's first line heads the report; its other lines, if any, follow the input."""
    headline, *details = reason.splitlines() or [""]
    lines = [f"{where} is wrong{': ' + headline if headline else '.'}", "input:", shown_input, *details]
    if values is not None:
        expected, got = values
        lines += [f"expected: {_describe(expected)}", f"got: {_describe(got)}"]
    return "\n".join(lines)


def run_cases(exercise: str, student_fn, cases: Sequence[tuple], reference, *, compare: Compare | None = None,
              tol: float = 1e-6, names: Sequence[str] | None = None, show_values: bool = True) -> Passed:
    """Run ``student_fn(*case)`` on each hidden case and compare it with ``reference(*case)``.

    ``compare`` (default :func:`close` with ``tol``) judges each answer, see
    :data:`Compare`.  ``names`` label the arguments in a report; ``show_values``
    False leaves the expected and returned values out of it (a model, a long
    list), when the reason given by ``compare`` says enough.

    A stub (``NotImplementedError``) is reported as not answered yet; any other
    exception the student's code raises becomes an :class:`ExerciseFailed`
    naming the case, with the student's exception chained so that its
    traceback stays reachable.
    """
    compare = compare or close(tol)
    for number, case in enumerate(cases, 1):
        where = f"{exercise}: hidden case {number} of {len(cases)}"
        expected = reference(*case)
        try:
            got = student_fn(*_fresh(case))
        except NotImplementedError:
            raise not_answered(exercise) from None
        except Exception as err:  # the student's bug: say on which input, keep their traceback
            raise ExerciseFailed(f"{where} raised {type(err).__name__}: {err}\n"
                                 f"input:\n{_show_input(case, names)}") from err
        try:
            reason = compare(expected, got, case)
        except (TypeError, ValueError) as err:  # an answer of the wrong kind altogether
            reason = f"the answer cannot be compared with the expected one ({type(err).__name__}: {err})"
        if reason is not None:
            raise ExerciseFailed(_report(where, reason, _show_input(case, names),
                                         (expected, got) if show_values else None))
    return Passed(exercise, len(cases))
