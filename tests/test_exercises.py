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
