"""What the torch and Keras engines share: options, the epoch loop, schedules, history, progress.

Taught in chapter 1 (Training).  Each framework supplies a small *trainer*
(one optimisation step, the learning rate, checkpoints); the loop around it
lives here once, so shuffling, schedules, the divergence check, checkpoints and
the printed lines are the same for both frameworks by construction.
"""

from __future__ import annotations

import abc
import dataclasses
import importlib.util
import math
import os
import random
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import metrics as M
from .. import smoke

# name -> score computed from the confusion matrix summed over all batches
METRICS = {
    "mean_iou": lambda cm: M._nanmean(M.iou_from_confusion(cm)),
    "mean_dice": lambda cm: M._nanmean(M.dice_from_confusion(cm)),
    "pixel_accuracy": M.pixel_accuracy_from_confusion,
    "mean_class_accuracy": lambda cm: M._nanmean(M.class_accuracy_from_confusion(cm)),
}
# name -> per-class scores of one image; averaged per class over the images where defined, then over classes,
# which is what coursekit.metrics' mean_boundary_f1 and mean_hd95 give for the whole set at once (chapter 6)
PER_IMAGE_METRICS = {
    "boundary_f1": M.boundary_f1_per_class,
    "hd95": M.hd95_per_class,
}

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = (None, "cosine", "plateau")
AMP_MODES = ("auto", "bf16", "fp16", "off")
# The settings a resumed run compares with its checkpoint's, to warn when they changed.
_COMPARED = ("loss", "lr", "batch_size", "optimizer", "schedule", "grad_clip", "ignore_index")


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or infinite; raised before anything of that state is saved."""

    def __init__(self, epoch: int, step: int, value: float):
        self.epoch, self.step, self.value = epoch, step, value
        super().__init__(
            f"training diverged: the loss is {value} at epoch {epoch}, step {step}. Nothing of this state was "
            "saved; the last checkpoint (if any) holds the previous epoch. Try a lower learning rate, "
            "grad_clip, or check the data for NaN values.")


def training_scores(confusion: np.ndarray, metric_names) -> dict:
    """The confusion-matrix metrics of the training batches of one epoch.

    They are scored as the batches go, in training mode and while the weights
    change, as Keras reports training metrics; boundary metrics (per image)
    would cost a pass of their own and are kept for validation.
    """
    return {name: METRICS[name](confusion) for name in metric_names if name in METRICS}


def training_classes(num_classes: int | None, channels: int) -> int:
    """Classes of the training confusion matrix: the data's, or the model's outputs (one channel: two)."""
    return num_classes or max(channels, 2)


def check_metrics(names) -> tuple[str, ...]:
    if isinstance(names, str):
        names = (names,)
    unknown = [n for n in names if n not in METRICS and n not in PER_IMAGE_METRICS]
    if unknown:
        renamed = {"miou": "mean_iou", "dice": "mean_dice"}.get(unknown[0])
        hint = f" ({unknown[0]!r} is called {renamed!r}, as in coursekit.metrics)" if renamed else ""
        raise ValueError(f"unknown metric {unknown[0]!r}{hint}; choose from {sorted([*METRICS, *PER_IMAGE_METRICS])}")
    return tuple(names)


class History(dict):
    """Per-epoch values by name, as lists of floats.

    ``loss`` and the confusion-matrix metrics (``mean_iou``, ``mean_dice``, ...) of the
    training batches, then ``val_loss`` and ``val_<metric>`` for every metric
    when there is validation data.
    """

    def add(self, values: dict) -> None:
        for key, value in values.items():
            self.setdefault(key, []).append(float(value))

    @classmethod
    def from_dict(cls, values: dict) -> History:
        return cls({str(k): [float(v) for v in vs] for k, vs in values.items()})

    @property
    def epochs(self) -> int:
        return len(self.get("loss", []))

    def table(self) -> str:
        """The history as a Markdown table, one row per epoch."""
        keys = list(self)
        lines = ["| epoch | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        for e in range(self.epochs):
            lines.append(f"| {e + 1} | " + " | ".join(f"{self[k][e]:.4f}" for k in keys) + " |")
        return "\n".join(lines)


class Evaluation:
    """Accumulates a loss, a confusion matrix and per-image boundary scores over batches.

    ``num_classes`` may be left ``None`` when the data does not say; the first
    batch's logits then tell (one channel is a binary task: two classes).
    Pixels labelled ``ignore_index`` are left out of every score.
    """

    def __init__(self, num_classes: int | None, metric_names=(), ignore_index: int | None = None):
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.confusion = None
        self.per_image = {name: [] for name in metric_names if name in PER_IMAGE_METRICS}
        self.loss_sum = 0.0
        self.count = 0

    def check_labels(self, masks: np.ndarray, channels: int, name: str = "data") -> None:
        """Settle the number of classes and refuse stray labels in all of ``masks``, before a loss sees a batch.

        A loss given an out-of-range label fails in its framework's words (on
        a GPU it may give NaN instead); checked here, training and evaluation
        refuse it alike.
        """
        if self.num_classes is None:
            self.num_classes = training_classes(None, channels)
        M.check_label_range(name, masks, self.num_classes, self.ignore_index)

    def update(self, predicted: np.ndarray, target: np.ndarray, loss: float | None = None,
               channels: int | None = None) -> None:
        if self.confusion is None:
            if self.num_classes is None:
                self.num_classes = max(channels or 2, 2)
            self.confusion = M.ConfusionMatrix(self.num_classes, self.ignore_index)
        self.confusion.update(target, predicted)
        for name, rows in self.per_image.items():
            rows.extend(PER_IMAGE_METRICS[name](t, p, self.num_classes, ignore_index=self.ignore_index)
                        for t, p in zip(target, predicted))
        if loss is not None:
            self.loss_sum += float(loss) * len(target)
        self.count += len(target)

    def _per_image(self, name: str) -> float:
        with warnings.catch_warnings():  # a class absent from every image has no score: nan, as documented
            warnings.simplefilter("ignore", RuntimeWarning)
            return M._nanmean(np.nanmean(np.array(self.per_image[name]), axis=0))

    def result(self, metric_names, with_loss: bool) -> dict:
        if self.confusion is None:
            raise ValueError("nothing to evaluate: the data holds no images")
        out = {"loss": self.loss_sum / max(self.count, 1)} if with_loss else {}
        matrix = self.confusion.matrix
        out.update({name: self._per_image(name) if name in self.per_image else METRICS[name](matrix)
                    for name in metric_names})
        return out


def batches(n: int, batch_size: int, rng: np.random.Generator | None = None):
    """Index arrays of consecutive batches, shuffled when ``rng`` is given."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def check_split(examples: int, batch_size: int, processes: int) -> None:
    """Refuse batches that ``processes`` data-parallel workers cannot share (appendix: Past one GPU).

    ``batch_size`` is the global batch: each worker takes an equal share of it.
    The epoch's last, smaller batch is shared as evenly as it goes, but every
    worker needs at least one image of it.
    """
    if batch_size % processes:
        raise ValueError(f"batch_size {batch_size} cannot be shared equally by {processes} data-parallel processes: "
                         f"choose a multiple of {processes} (batch_size is the global batch, split among them)")
    last = examples % batch_size
    if 0 < last < processes:
        raise ValueError(f"the last batch of each epoch holds {last} of the {examples} training images, too few for "
                         f"{processes} data-parallel processes to get one each: choose a batch_size that divides "
                         f"{examples} or leaves at least {processes}, or drop {last} image(s)")


def share_of(index: np.ndarray, part: int, parts: int) -> np.ndarray:
    """Contiguous share ``part`` of ``parts`` near-equal shares of one batch (equal when ``parts`` divides it)."""
    return np.array_split(index, parts)[part]


def epoch_line(epoch: int, epochs: int, values: dict, seconds: float) -> str:
    shown = " - ".join(f"{k} {v:.3f}" for k, v in values.items())
    return f"epoch {epoch:>{len(str(epochs))}}/{epochs} - {seconds:.1f}s - {shown}"


# --- Data -----------------------------------------------------------------------------


def labels_from_logits(logits: np.ndarray) -> np.ndarray:
    """Class indices from channels-last logits: the highest score, or for one channel, a logit above 0
    (a probability above 0.5)."""
    labels = (logits[..., 0] > 0) if logits.shape[-1] == 1 else logits.argmax(-1)
    return labels.astype(np.int64)


@dataclass
class Arrays:
    """Images ``N×H×W×C`` and masks ``N×H×W`` in memory, with the class count and ignore index where the data
    declares them."""

    images: np.ndarray
    masks: np.ndarray
    num_classes: int | None
    weight_maps: np.ndarray | None = None
    ignore_index: int | None = None

    def __len__(self) -> int:
        return len(self.images)


def as_arrays(data, name: str) -> Arrays:
    """Accept an :class:`~coursekit.data.ArrayDataset`, an ``(images, masks)`` pair or an
    ``(images, masks, weight_maps)`` triple; check their shapes."""
    weights, ignore_index = None, None
    if hasattr(data, "images") and hasattr(data, "masks"):
        images, masks, classes = data.images, data.masks, getattr(data, "num_classes", None)
        weights = getattr(data, "weight_maps", None)
        ignore_index = M.check_ignore_index(getattr(data, "ignore_index", None))
    elif isinstance(data, (tuple, list)) and len(data) in (2, 3):
        (images, masks, *rest), classes = data, None
        weights = rest[0] if rest else None
    else:
        raise TypeError(f"{name} must be an ArrayDataset, an (images, masks) pair or an (images, masks, weight_maps) "
                        f"triple, got {type(data).__name__}")
    images, masks = np.asarray(images), np.asarray(masks)
    if images.ndim != 4 or masks.shape != images.shape[:3]:
        raise ValueError(f"{name}: images must be N×H×W×C and masks N×H×W of the same N, H, W; "
                         f"got images {images.shape} and masks {masks.shape}")
    if weights is not None:
        weights = np.asarray(weights, np.float32)
        if weights.shape != masks.shape:
            raise ValueError(f"{name}: weight_maps must be N×H×W like the masks {masks.shape}, got {weights.shape}")
    if len(images) == 0:
        raise ValueError(f"{name} holds no images")
    return Arrays(images, masks, classes, weights, ignore_index)


def prepare(train_data, val_data, opts: Options) -> tuple[Arrays, Arrays | None, Options]:
    """The checked training and validation data of a ``fit``, and its options with the ignore index settled."""
    train = as_arrays(train_data, "train_data")
    val = as_arrays(val_data, "val_data") if val_data is not None else None
    if val is not None and smoke.enabled():  # smoke mode validates on a couple of images (coursekit.smoke)
        val = smoke.first_images(val)
    return train, val, dataclasses.replace(opts, ignore_index=ignore_index_for(opts.ignore_index, train, val))


def ignore_index_for(given: int | None, train: Arrays, val: Arrays | None = None) -> int | None:
    """The ignore index of a run: the one ``fit`` was given, else the one the data declares.

    Training and validation must leave out the same label, or the validation
    scores would judge pixels the model was never taught.
    """
    if given is not None:
        return given
    declared = {data.ignore_index for data in (train, val) if data is not None and data.ignore_index is not None}
    if len(declared) > 1:
        raise ValueError(f"train_data and val_data ignore different labels ({train.ignore_index} and "
                         f"{val.ignore_index}); pass ignore_index= to fit to say which one both leave out")
    return declared.pop() if declared else None


def check_data_labels(data: Arrays, channels: int, ignore_index: int | None, name: str) -> int:
    """The number of classes of ``data`` (its own, or from the model's ``channels``), once every label of it is
    a class or ``ignore_index``: training refuses a stray label as :func:`coursekit.train.evaluate` does."""
    classes = training_classes(data.num_classes, channels)
    M.check_label_range(name, data.masks, classes, ignore_index)
    return classes


WEIGHTED_LOSS = "weighted_cross_entropy"


def check_weighting(loss, train: Arrays) -> bool:
    """Whether training weighs pixels; refuses a weighted loss without maps and maps without a weighted loss."""
    weighted = train.weight_maps is not None
    if loss == WEIGHTED_LOSS and not weighted:
        raise ValueError(f"loss={WEIGHTED_LOSS!r} needs a weight per pixel: give train_data weight_maps (an "
                         "ArrayDataset with weight_maps, or an (images, masks, weight_maps) triple; "
                         "coursekit.losses.unet_weight_map makes the U-Net paper's)")
    if weighted and loss != WEIGHTED_LOSS:
        raise ValueError(f"train_data carries weight_maps but loss {loss!r} does not use them: pass "
                         f"loss={WEIGHTED_LOSS!r}, or drop the weight maps")
    return weighted


# --- Options --------------------------------------------------------------------------


@dataclass
class Options:
    """The checked arguments of :func:`coursekit.train.fit`."""

    loss: object
    epochs: int
    lr: float
    batch_size: int = 16
    optimizer: str = "adam"
    metrics: tuple = ("mean_iou", "mean_dice")
    checkpoint_dir: Path | None = None
    resume: bool = True
    amp: str = "auto"
    schedule: str | None = None
    grad_clip: float | None = None
    compile: bool = False
    seed: int = 0
    device: object = None
    verbose: bool = True
    ignore_index: int | None = None

    def __post_init__(self):
        if not (isinstance(self.loss, str) or callable(self.loss)):
            raise TypeError(f"loss must be a loss name or a callable, got {type(self.loss).__name__}")
        if not isinstance(self.epochs, (int, np.integer)) or self.epochs < 1:
            raise ValueError(f"epochs must be a whole number >= 1, got {self.epochs!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a whole number >= 1, got {self.batch_size!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose None, 'cosine' or 'plateau'")
        if self.amp is True:
            self.amp = "auto"
        elif self.amp is False or self.amp is None:
            self.amp = "off"
        if self.amp not in AMP_MODES:
            raise ValueError(f"amp must be one of {', '.join(AMP_MODES)} (or True/False), got {self.amp!r}")
        if self.grad_clip is not None and not (isinstance(self.grad_clip, (int, float)) and self.grad_clip > 0):
            raise ValueError(f"grad_clip must be None or a positive number (the largest gradient norm), "
                             f"got {self.grad_clip!r}")
        self.metrics = check_metrics(self.metrics)
        self.ignore_index = M.check_ignore_index(self.ignore_index)
        self.epochs, self.batch_size, self.lr = int(self.epochs), int(self.batch_size), float(self.lr)
        if self.checkpoint_dir is not None:
            self.checkpoint_dir = Path(self.checkpoint_dir).expanduser()
            if self.checkpoint_dir.exists() and not self.checkpoint_dir.is_dir():
                raise ValueError(f"checkpoint_dir {self.checkpoint_dir} exists and is not a directory")

    @property
    def loss_name(self) -> str:
        return self.loss if isinstance(self.loss, str) else getattr(self.loss, "__name__", type(self.loss).__name__)

    def settings(self) -> dict:
        """What a checkpoint records of the call, in plain types."""
        return {"loss": self.loss_name, "lr": self.lr, "batch_size": self.batch_size, "optimizer": self.optimizer,
                "schedule": self.schedule, "grad_clip": self.grad_clip, "seed": self.seed, "epochs": self.epochs,
                "ignore_index": self.ignore_index}


# --- Learning-rate schedules ----------------------------------------------------------


class Schedule:
    """The learning rate at each step, in plain Python so that both frameworks follow the same curve.

    * ``None``: constant ``lr``.
    * ``"cosine"``: cosine annealing from ``lr`` to 0 over all the run's steps,
      ``lr_t = lr (1 + cos(pi t / T)) / 2`` (Loshchilov & Hutter 2017, "SGDR:
      Stochastic gradient descent with warm restarts", eq. 5, without restarts).
    * ``"plateau"``: ``lr`` until the monitored loss (validation loss when there
      is validation data, else training loss) has not improved by 0.1 % for
      ``patience`` epochs; then the rate is multiplied by ``factor``, down to
      ``lr / 1000`` at the least.
    """

    patience = 2
    factor = 0.5
    threshold = 1e-3

    def __init__(self, kind: str | None, lr: float, epochs: int, steps_per_epoch: int):
        self.kind, self.base, self.epochs, self.steps = kind, lr, epochs, steps_per_epoch
        self.current, self.best, self.wait = lr, None, 0

    def lr(self, epoch: int, step: int) -> float:
        """The rate for ``step`` (1-based) of ``epoch`` (1-based)."""
        if self.kind == "cosine":
            t = (epoch - 1) * self.steps + (step - 1)
            return self.base * 0.5 * (1 + math.cos(math.pi * t / (self.epochs * self.steps)))
        return self.current

    @property
    def per_step(self) -> bool:
        return self.kind == "cosine"

    def end_epoch(self, monitored: float) -> None:
        if self.kind != "plateau" or not math.isfinite(monitored):
            return
        if self.best is None or monitored < self.best * (1 - self.threshold):
            self.best, self.wait = monitored, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.current = max(self.current * self.factor, self.base * 1e-3)
            self.wait = 0

    def state_dict(self) -> dict:
        return {"kind": self.kind, "current": self.current, "best": self.best, "wait": self.wait}

    def load_state_dict(self, state: dict) -> None:
        if state.get("kind") == self.kind:  # another schedule starts afresh
            self.current, self.best, self.wait = float(state["current"]), state["best"], int(state["wait"])


# --- Random states in plain types (checkpoints never pickle) ----------------------------


def python_random_states(shuffle: np.random.Generator) -> dict:
    """Python's, NumPy's global and the shuffling generator's states as lists, ints and strings."""
    version, internal, gauss = random.getstate()
    legacy = np.random.get_state(legacy=False)
    legacy = {**legacy, "state": {"key": legacy["state"]["key"].tolist(), "pos": int(legacy["state"]["pos"])}}
    return {"python": {"version": version, "state": list(internal), "gauss": gauss},
            "numpy": legacy, "shuffle": shuffle.bit_generator.state}


def set_python_random_states(states: dict, shuffle: np.random.Generator) -> None:
    p = states["python"]
    random.setstate((int(p["version"]), tuple(int(v) for v in p["state"]), p["gauss"]))
    legacy = dict(states["numpy"])
    legacy["state"] = {"key": np.asarray(legacy["state"]["key"], np.uint32), "pos": int(legacy["state"]["pos"])}
    np.random.set_state(legacy)
    shuffle.bit_generator.state = states["shuffle"]


# --- Progress ---------------------------------------------------------------------------


class _NoBar:
    def update(self, n=1):
        pass

    def set_postfix(self, **values):
        pass

    def close(self):
        pass


def _interactive() -> bool:
    """A person is watching: a terminal, or a Jupyter kernel that can draw tqdm's widget bar.

    A notebook executed for the book (no ipywidgets there) or under pytest gets
    no bar, so stored outputs hold only the epoch lines.
    """
    stream = sys.stderr
    if hasattr(stream, "isatty") and stream.isatty():
        return True
    return "ipykernel.zmqshell" in sys.modules and importlib.util.find_spec("ipywidgets") is not None


def progress_bar(total: int, desc: str, enabled: bool):
    """A ``tqdm.auto`` bar over an epoch's batches that disappears when the epoch ends.

    It redraws at most every 0.1 s (tqdm's default), so a fast epoch shows
    few of its steps.
    """
    if not enabled or not _interactive():
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True, unit="batch")


# --- The loop -----------------------------------------------------------------------------


class Trainer(abc.ABC):
    """What an engine supplies to :func:`run`; see ``torch.py`` and ``keras.py``.

    ``step(index)`` trains on one batch and returns a handle on its loss;
    ``floats(handles)`` turns handles into Python floats (torch waits for the
    device here, so it does so only every ``sync_every`` steps).  Each step also
    adds the batch's predictions to a confusion matrix kept on the device, read
    once per epoch by ``training_confusion()``.  ``sum_over_processes(counts)``
    adds up what each data-parallel process counted (appendix: Past one GPU);
    one process has nothing to add.
    """

    framework = ""
    sync_every = 1

    @abc.abstractmethod
    def seed(self, seed: int) -> None:
        ...

    @abc.abstractmethod
    def set_lr(self, lr: float) -> None:
        ...

    @abc.abstractmethod
    def train_mode(self) -> None:
        ...

    @abc.abstractmethod
    def step(self, index: np.ndarray):
        ...

    @abc.abstractmethod
    def floats(self, handles: list) -> list[float]:
        ...

    @abc.abstractmethod
    def reset_training_confusion(self) -> None:
        ...

    @abc.abstractmethod
    def training_confusion(self) -> np.ndarray:
        ...

    @abc.abstractmethod
    def validate(self) -> dict:
        ...

    @abc.abstractmethod
    def save(self, directory: Path, state: dict) -> Path:
        ...

    @abc.abstractmethod
    def load(self, directory: Path) -> dict | None:
        ...

    def sum_over_processes(self, counts: np.ndarray) -> np.ndarray:
        return counts


def _warn_changed(saved: dict, now: dict, path) -> None:
    changed = [f"{k} {saved.get(k)!r} -> {now[k]!r}" for k in _COMPARED if k in saved and saved[k] != now[k]]
    if changed:
        warnings.warn(f"resuming from {path} with settings that differ from the checkpoint's: "
                      + ", ".join(changed), stacklevel=6)


def _check_finite(epoch: int, step: int, value: float) -> None:
    if not math.isfinite(value):
        raise TrainingDiverged(epoch, step, value)


class _MeanLoss:
    """The epoch's loss so far: the batches' losses weighed by their sizes (the last batch may be smaller)."""

    def __init__(self):
        self.total, self.seen = 0.0, 0

    def add(self, value: float, size: int) -> None:
        self.total += value * size
        self.seen += size

    @property
    def value(self) -> float:
        return self.total / self.seen


class _Run:
    """What one :func:`run` carries from epoch to epoch: the history, the schedule and the shuffling generator.

    In smoke mode (:mod:`coursekit.smoke`) the run has at most ``smoke.EPOCHS`` epochs of at most
    ``smoke.STEPS`` steps, and the seconds of each step are kept in ``step_seconds``.
    """

    def __init__(self, trainer: Trainer, examples: int, has_val: bool, opts: Options):
        self.smoke = smoke.enabled()
        self.requested = (opts.epochs, -(-examples // opts.batch_size))  # epochs, steps per epoch
        if self.smoke:
            opts = dataclasses.replace(opts, epochs=smoke.cut_epochs(opts.epochs))
        self.trainer, self.examples, self.has_val, self.opts = trainer, examples, has_val, opts
        self.steps = -(-examples // opts.batch_size)
        if self.smoke:
            self.steps = smoke.cut_steps(self.steps)
        self.step_seconds: list[float] = []
        self.schedule = Schedule(opts.schedule, opts.lr, opts.epochs, self.steps)
        self.shuffle = np.random.default_rng(opts.seed)
        self.history, self.done = History(), 0

    def resume(self) -> None:
        """Carry on from the checkpoint where there is one (and ``resume`` is on); seed a fresh run otherwise."""
        opts = self.opts
        saved = self.trainer.load(opts.checkpoint_dir) if opts.checkpoint_dir is not None and opts.resume else None
        if saved is None:
            self.trainer.seed(opts.seed)
            return
        _warn_changed(saved.get("settings", {}), opts.settings(), saved["path"])
        self.history, self.done = History.from_dict(saved["history"]), int(saved["epoch"])
        self.schedule.load_state_dict(saved["schedule"])
        set_python_random_states(saved["random"], self.shuffle)
        if opts.verbose:
            print(f"resumed from {saved['path']}: {self.done} of {opts.epochs} epochs done", flush=True)

    def train_one_epoch(self, epoch: int) -> dict:
        """One pass over the shuffled training data; the epoch's mean loss and training scores."""
        trainer = self.trainer
        trainer.train_mode()
        trainer.set_lr(self.schedule.lr(epoch, 1))
        trainer.reset_training_confusion()
        loss = self._take_steps(epoch)
        confusion = trainer.sum_over_processes(trainer.training_confusion())
        return {"loss": loss.value, **training_scores(confusion, self.opts.metrics)}

    def _take_steps(self, epoch: int) -> _MeanLoss:
        """A step on every batch, under a progress bar; losses checked as they come from the device."""
        trainer, opts = self.trainer, self.opts
        loss, pending = _MeanLoss(), []
        bar = progress_bar(self.steps, f"epoch {epoch:>{len(str(opts.epochs))}}/{opts.epochs}", opts.verbose)
        try:
            for step, index in enumerate(batches(self.examples, opts.batch_size, self.shuffle), start=1):
                if step > self.steps:  # only in smoke mode, which cuts the epoch
                    break
                began = time.perf_counter()
                if self.schedule.per_step and step > 1:
                    trainer.set_lr(self.schedule.lr(epoch, step))
                pending.append((step, len(index), trainer.step(np.sort(index))))
                # smoke mode waits for every step's loss, so that the step's time is its own
                if len(pending) >= trainer.sync_every or step == self.steps or self.smoke:
                    self._add_losses(loss, epoch, pending)
                    pending = []
                    self._show_running_scores(bar, loss)
                if self.smoke:
                    self.step_seconds.append(time.perf_counter() - began)
                bar.update(1)
        finally:
            bar.close()
        return loss

    def _add_losses(self, loss: _MeanLoss, epoch: int, pending: list) -> None:
        """Add the losses of the steps since the last sync (``(step, batch size, handle)``) to the epoch's."""
        for (step, size, _), value in zip(pending, self.trainer.floats([handle for _, _, handle in pending])):
            _check_finite(epoch, step, value)
            loss.add(value, size)

    def _show_running_scores(self, bar, loss: _MeanLoss) -> None:
        if isinstance(bar, _NoBar):  # running scores cost a copy from the device: only when shown
            return
        # (data-parallel: this process's shares only; the epoch's line sums all processes')
        running = training_scores(self.trainer.training_confusion(), self.opts.metrics)
        bar.set_postfix(loss=f"{loss.value:.4f}", **{k: f"{v:.3f}" for k, v in running.items()},
                        refresh=False)

    def validate(self) -> dict:
        return {f"val_{k}": v for k, v in self.trainer.validate().items()} if self.has_val else {}

    def end_epoch(self, values: dict) -> None:
        self.history.add(values)
        self.schedule.end_epoch(values.get("val_loss", values["loss"]))

    def save_checkpoint(self, epoch: int) -> None:
        """The state after ``epoch``, written only once its loss was found finite."""
        opts = self.opts
        if opts.checkpoint_dir is None:
            return
        self.trainer.save(opts.checkpoint_dir, {
            "format": 1, "framework": self.trainer.framework, "epoch": epoch, "history": dict(self.history),
            "schedule": self.schedule.state_dict(), "random": python_random_states(self.shuffle),
            "settings": opts.settings()})

    def report(self, epoch: int, values: dict, seconds: float) -> None:
        if self.opts.verbose:
            print(epoch_line(epoch, self.opts.epochs, values, seconds), flush=True)

    def report_smoke(self, train: Arrays) -> None:
        """Smoke mode: say what was cut, and record the steps' times for the smoke runner."""
        model = self.trainer.model
        name = model.name if self.trainer.framework == "keras" else type(model).__name__
        epochs, steps = self.requested
        seconds = [round(s, 4) for s in self.step_seconds]
        smoke.record("fit", framework=self.trainer.framework, model=name, image_shape=list(train.images.shape[1:]),
                     batch_size=self.opts.batch_size, train_images=len(train), epochs_requested=epochs,
                     steps_per_epoch_requested=steps, epochs_run=self.opts.epochs, steps_per_epoch_run=self.steps,
                     step_seconds=seconds)
        if self.opts.verbose and seconds:
            print(f"smoke mode: {len(seconds)} step(s) of {epochs * steps} ({self.opts.epochs} of {epochs} epochs, "
                  f"{self.steps} of {steps} steps each); the last step took {seconds[-1]:.2f} s", flush=True)


def run(trainer: Trainer, train: Arrays, has_val: bool, opts: Options) -> History:
    """Train epoch by epoch: shuffle, step, check the loss, validate, save a checkpoint, print a line."""
    loop = _Run(trainer, len(train), has_val, opts)
    opts = loop.opts  # the same options, but for the epochs that smoke mode cuts
    loop.resume()
    for epoch in range(loop.done + 1, opts.epochs + 1):
        start = time.perf_counter()
        values = loop.train_one_epoch(epoch)
        values.update(loop.validate())
        loop.end_epoch(values)
        loop.save_checkpoint(epoch)
        loop.report(epoch, values, time.perf_counter() - start)
    if loop.smoke:
        loop.report_smoke(train)
    return loop.history


def check_checkpoint_dir(directory: Path) -> Path:
    """``directory``, made if it is not there yet (a first run creates it when it saves its first epoch)."""
    os.makedirs(directory, exist_ok=True)
    return directory
