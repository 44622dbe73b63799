import inspect

import numpy as np
import pytest
from conftest import assert_rejected_showing_the_case

from coursekit import exercises
from coursekit.exercises.core import run_cases


def good_one_hot(mask, num_classes, ignore_index=None):
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
                                lambda m, n, v: np.moveaxis(good_one_hot(m, n), -1, 0)),
    "one_hot, only the classes present": (exercises.check_one_hot,
                                          lambda m, n, v: good_one_hot(m, m.max() + 1)),
    "one_hot, off by one": (exercises.check_one_hot,
                            lambda m, n, v: (m[..., None] == np.arange(1, n + 1)).astype(np.float32)),
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


def _void_as_class_zero(mask, num_classes, ignore_index):
    return good_one_hot(np.where(mask == ignore_index, 0, mask) if ignore_index is not None else mask, num_classes)


def _void_with_a_plane(mask, num_classes, ignore_index):
    planes = num_classes + (ignore_index is not None)
    return good_one_hot(np.where(mask == ignore_index, num_classes, mask) if ignore_index is not None else mask,
                        planes)


@pytest.mark.parametrize("answer, says", [
    (_void_as_class_zero, "right for every class pixel, but an ignored pixel must be a row of zeros"),
    (_void_with_a_plane, "one plane too many"),
    (lambda m, n, v: np.eye(n, dtype=np.float32)[m], "raised IndexError"),
])
def test_one_hot_says_what_is_wrong_with_ignored_pixels(answer, says):
    with pytest.raises(exercises.ExerciseFailed, match=says):
        exercises.check_one_hot(answer)


@pytest.mark.parametrize("case", sorted(WRONG))
@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_plausible_wrong_answers_are_rejected_with_the_failing_input(case):
    checker, answer = WRONG[case]
    assert_rejected_showing_the_case(checker, answer)


def test_an_unanswered_exercise_says_so():
    def stub(*args):
        raise NotImplementedError

    with pytest.raises(exercises.ExerciseFailed, match="not answered yet"):
        exercises.check_one_hot(stub)


def test_an_answer_that_crashes_is_told_on_which_input():
    with pytest.raises(exercises.ExerciseFailed, match=r"hidden case \d+ of \d+ raised") as failure:
        exercises.check_one_hot(lambda mask, k, void: [][k])
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


FUNCTION_CHECKERS = [n for n in exercises.__all__ if n.startswith("check_")
                     and next(iter(inspect.signature(getattr(exercises, n)).parameters)).startswith("student")]


def test_the_function_checkers_are_the_ones_expected():
    assert {"check_one_hot", "check_warp_pair", "check_valid_output_size", "check_vgg_segnet_fix",
            "check_split_tiles", "check_max_pool_with_indices"} <= set(FUNCTION_CHECKERS)


@pytest.mark.parametrize("name", FUNCTION_CHECKERS)
def test_every_function_checker_wraps_a_crash_naming_the_case_and_chaining_it(name):
    def crashes(*args):
        raise ValueError("a bug of the student's")

    with pytest.raises(exercises.ExerciseFailed, match=r"hidden case 1 of \d+ raised ValueError: a bug") as failure:
        getattr(exercises, name)(crashes)
    assert "input:" in str(failure.value)
    assert isinstance(failure.value.__cause__, ValueError)


def test_a_compare_hooks_reason_heads_the_report_and_its_details_follow_the_input():
    def compare(expected, got, case):
        return None if got == expected else "off by one\nexpected: the sum\ngot: something else"

    with pytest.raises(exercises.ExerciseFailed) as failure:
        run_cases("add", lambda a, b: a + b + (a == 2), [(1, 1), (2, 3)], lambda a, b: a + b, compare=compare,
                  names=("a", "b"), show_values=False)
    assert str(failure.value).splitlines() == ["add: hidden case 2 of 2 is wrong: off by one", "input:",
                                               "  a: 2", "  b: 3", "expected: the sum", "got: something else"]


def test_the_default_comparison_shows_expected_and_got_and_passes_close_answers():
    assert run_cases("half", lambda x: x / 2 + 1e-9, [(np.arange(3.0),)], lambda x: x / 2).cases == 1
    with pytest.raises(exercises.ExerciseFailed) as failure:
        run_cases("half", lambda x: x / 2, [(np.arange(3.0),)], lambda x: x / 3)
    report = str(failure.value)
    assert report.startswith("half: hidden case 1 of 1 is wrong.\ninput:\n  argument 1: array of shape (3,)")
    assert "expected: array of shape (3,), dtype float64:\n[0.     0.3333 0.6667]" in report
    assert report.endswith("got: array of shape (3,), dtype float64:\n[0.  0.5 1. ]")


def test_an_answer_of_the_wrong_kind_is_wrong_not_a_crash_of_the_checker():
    with pytest.raises(exercises.ExerciseFailed, match="hidden case 1 of .* is wrong"):
        exercises.check_max_unpool(lambda *args: "a string")


def test_a_comparison_that_chokes_on_the_answer_reports_it_as_wrong():
    def compare(expected, got, case):
        raise TypeError("unsupported operand")

    with pytest.raises(exercises.ExerciseFailed, match="cannot be compared .*TypeError: unsupported operand"):
        run_cases("x", lambda: 1, [()], lambda: 1, compare=compare)


def test_an_answer_that_writes_into_its_input_changes_neither_the_case_nor_the_report():
    case = np.array([1.0, 2.0])

    def zeroes_its_input(x):
        x[:] = 0
        return 0.0

    with pytest.raises(exercises.ExerciseFailed, match=r"\[1\. 2\.\]\nexpected: 3.0"):
        run_cases("total", zeroes_its_input, [(case,)], lambda x: float(x.sum()))
    assert case.tolist() == [1.0, 2.0]


def test_a_pair_returned_by_pooling_names_the_wrong_half():
    def values_right_indices_zero(x):
        height, width = x.shape
        values = x.reshape(height // 2, 2, width // 2, 2).max(axis=(1, 3))
        return values, np.zeros_like(values, dtype=np.int64)

    with pytest.raises(exercises.ExerciseFailed, match="is wrong: the indices are not right"):
        exercises.check_max_pool_with_indices(values_right_indices_zero)


# --- Chapter 1's build-it exercises, in both frameworks -------------------------------------------------


def dice_loss_answer(framework, *, softmax=True, background=True, per_image=False, hard=False):
    """The right soft Dice loss in ``framework`` and, by its switches, plausible wrong ones."""
    if framework == "torch":
        import torch

        def loss(logits, target):
            scores = logits.argmax(1) if hard else None
            probs = torch.softmax(logits, 1) if softmax else torch.sigmoid(logits)
            if hard:
                probs = torch.nn.functional.one_hot(scores, logits.shape[1]).permute(0, 3, 1, 2).float()
            truth = torch.nn.functional.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2).float()
            axes = (2, 3) if per_image else (0, 2, 3)
            dice = (2 * (probs * truth).sum(axes) + 1) / (probs.sum(axes) + truth.sum(axes) + 1)
            return 1 - (dice if background else dice[..., 1:]).mean()
        return loss
    import tensorflow as tf

    def loss(logits, target):
        probs = tf.nn.softmax(logits, -1) if softmax else tf.sigmoid(logits)
        if hard:
            probs = tf.one_hot(tf.argmax(logits, -1), logits.shape[-1])
        truth = tf.one_hot(target, logits.shape[-1])
        axes = (1, 2) if per_image else (0, 1, 2)
        overlap, total = tf.reduce_sum(probs * truth, axes), tf.reduce_sum(probs, axes) + tf.reduce_sum(truth, axes)
        dice = (2 * overlap + 1) / (total + 1)
        return 1 - tf.reduce_mean(dice if background else dice[..., 1:])
    return loss


def training_step_answer(framework, *, zero_grad=True, update=True, softmax_first=False):
    if framework == "torch":
        import torch
        import torch.nn.functional as F

        def step(model, optimizer, images, masks):
            if zero_grad:
                optimizer.zero_grad()
            scores = model(images)
            loss = F.nll_loss(torch.log_softmax(torch.softmax(scores, 1), 1), masks) if softmax_first \
                else F.cross_entropy(scores, masks)
            loss.backward()
            if update:
                optimizer.step()
            return loss.item()
        return step
    import keras
    import tensorflow as tf

    def step(model, optimizer, images, masks):
        with tf.GradientTape() as tape:
            scores = model(images, training=True)
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(masks, scores,
                                                                              from_logits=not softmax_first))
        if update:
            optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_weights), model.trainable_weights))
        return loss
    return step


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_the_build_it_exercises_of_chapter_1_pass_right_answers(framework):
    assert exercises.check_soft_dice_loss(dice_loss_answer(framework), framework).cases == 3
    assert exercises.check_training_step(training_step_answer(framework), framework).cases == 3


@pytest.mark.parametrize("framework", ["torch", "keras"])
@pytest.mark.parametrize("wrong, says", [
    ({"hard": True}, "no gradient"),
    ({"softmax": False}, "the loss is"),
    ({"background": False}, "the loss is"),
    ({"per_image": True}, "the loss is"),
])
def test_a_dice_loss_that_cannot_train_or_is_another_loss_is_rejected(framework, wrong, says):
    with pytest.raises(exercises.ExerciseFailed, match=says):
        exercises.check_soft_dice_loss(dice_loss_answer(framework, **wrong), framework)


@pytest.mark.parametrize("framework, wrong, says", [
    ("torch", {"zero_grad": False}, "after step 2 .*zero them"),
    ("torch", {"update": False}, "after step 1 .*applied once"),
    ("torch", {"softmax_first": True}, "the loss returned"),
    ("keras", {"update": False}, "after step 1"),
    ("keras", {"softmax_first": True}, "the loss returned"),
])
def test_a_training_step_that_misses_a_part_is_rejected_with_a_hint(framework, wrong, says):
    with pytest.raises(exercises.ExerciseFailed, match=says):
        exercises.check_training_step(training_step_answer(framework, **wrong), framework)


def test_the_framework_checkers_refuse_an_unknown_framework():
    with pytest.raises(ValueError, match="run.framework"):
        exercises.check_training_step(training_step_answer("torch"), "jax")
