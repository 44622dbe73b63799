import inspect

import numpy as np
import pytest

from coursekit import exercises


def good_one_hot(mask, num_classes):
    return (mask[..., None] == np.arange(num_classes)).astype(np.float32)


def good_iou(target, prediction, cls):
    t, p = target == cls, prediction == cls
    union = (t | p).sum()
    return (t & p).sum() / union if union else float("nan")


def good_soft_dice(probs, target, smooth=1.0):
    return (2 * (probs * target).sum() + smooth) / (probs.sum() + target.sum() + smooth)


@pytest.mark.parametrize("checker, answer", [(exercises.check_one_hot, good_one_hot),
                                             (exercises.check_class_iou, good_iou),
                                             (exercises.check_soft_dice, good_soft_dice)])
def test_right_answers_pass(checker, answer):
    result = checker(answer)
    assert "all" in repr(result) and result.cases >= 5


WRONG = {
    "one_hot, channels first": (exercises.check_one_hot,
                                lambda m, n: np.moveaxis(good_one_hot(m, n), -1, 0)),
    "one_hot, only the classes present": (exercises.check_one_hot,
                                          lambda m, n: good_one_hot(m, m.max() + 1)),
    "one_hot, off by one": (exercises.check_one_hot,
                            lambda m, n: (m[..., None] == np.arange(1, n + 1)).astype(np.float32)),
    "iou, empty class scores 1": (exercises.check_class_iou,
                                  lambda t, p, c: 1.0 if not ((t == c) | (p == c)).any() else good_iou(t, p, c)),
    "iou, divided by the target only": (exercises.check_class_iou,
                                        lambda t, p, c: ((t == c) & (p == c)).sum() / max((t == c).sum(), 1)),
    "iou, the Dice formula": (exercises.check_class_iou,
                              lambda t, p, c: 2 * ((t == c) & (p == c)).sum()
                              / max((t == c).sum() + (p == c).sum(), 1)),
    "soft dice, forgotten smoothing": (exercises.check_soft_dice,
                                       lambda p, g, smooth=1.0: 2 * (p * g).sum() / (p.sum() + g.sum())),
    "soft dice, smoothing only on top": (exercises.check_soft_dice,
                                         lambda p, g, smooth=1.0: (2 * (p * g).sum() + smooth) / (p.sum() + g.sum())),
    "soft dice, without the 2": (exercises.check_soft_dice,
                                 lambda p, g, smooth=1.0: ((p * g).sum() + smooth) / (p.sum() + g.sum() + smooth)),
}


@pytest.mark.parametrize("case", sorted(WRONG))
@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_plausible_wrong_answers_are_rejected_with_the_failing_input(case):
    checker, answer = WRONG[case]
    with pytest.raises(exercises.ExerciseFailed, match="expected") as failure:
        checker(answer)
    assert "input" in str(failure.value) and "got" in str(failure.value)


def test_an_unanswered_exercise_says_so():
    def stub(*args):
        raise NotImplementedError

    with pytest.raises(exercises.ExerciseFailed, match="not answered yet"):
        exercises.check_one_hot(stub)


def test_an_answer_that_crashes_is_told_on_which_input():
    with pytest.raises(exercises.ExerciseFailed, match=r"hidden case \d+ of \d+ raised") as failure:
        exercises.check_one_hot(lambda mask, k: [][k])
    assert "IndexError" in str(failure.value) and "input" in str(failure.value)
    assert isinstance(failure.value.__cause__, IndexError)  # the student's own traceback stays reachable


@pytest.mark.parametrize("name", [n for n in exercises.__all__ if n.startswith("check_")])
def test_every_checker_says_a_stub_is_not_answered(name):
    """The student edition's stubs: a function raising NotImplementedError, or an answer left as `...`."""
    def stub(*args, **kwargs):
        raise NotImplementedError

    checker = getattr(exercises, name)
    required = [p for p in inspect.signature(checker).parameters.values() if p.default is p.empty]
    messages = []
    for unanswered in (stub, ...):
        try:
            checker(*[unanswered] * len(required))
        except exercises.ExerciseFailed as failure:
            messages.append(str(failure))
        except Exception as error:  # noqa: BLE001 - any other error is a checker that cannot handle a stub
            messages.append(f"{type(error).__name__}: {error}")
    assert any("not answered yet" in m for m in messages), messages
