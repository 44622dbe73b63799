"""The torch side of :mod:`coursekit.train`: one optimisation step, mixed precision, checkpoints.

Taught in chapter 1 (Training).  The loop around the step is shared with Keras
(``common.run``); what is torch's own lives here: autocast and the gradient
scaler, channels-last memory, ``torch.compile``, gradient clipping, and the
checkpoint's tensors.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from ..losses import get_loss, weighted_cross_entropy
from ..models.torch.inference import eval_mode
from . import checkpoint
from .common import (
    Evaluation,
    Options,
    Trainer,
    as_arrays,
    check_checkpoint_dir,
    check_data_labels,
    check_metrics,
    check_weighting,
    prepare,
    run,
)

_OPTIMIZERS = {
    "adam": lambda params, lr: torch.optim.Adam(params, lr=lr, eps=1e-8),
    "adamw": lambda params, lr: torch.optim.AdamW(params, lr=lr, eps=1e-8, weight_decay=1e-2),
    "sgd": lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9),
}
# Data below this size is copied to the GPU once, so a step only sends the shuffled indices.
_ON_DEVICE_BYTES = 2 << 30


def _device_of(model) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    return torch.device("cpu")


def _to_tensor(images: np.ndarray, device, channels_last: bool = False) -> torch.Tensor:
    """``N×H×W×C`` NumPy images to an ``N×C×H×W`` float tensor on ``device``.

    Channels-last keeps NumPy's own memory order, so the permute costs nothing.
    """
    if channels_last:
        return torch.from_numpy(np.ascontiguousarray(images)).to(device).float().permute(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).float().to(device)


def class_indices(logits: torch.Tensor) -> torch.Tensor:
    """The class of highest score at each pixel of ``N×C×H×W`` logits (the first one on ties, as ``argmax``).

    ``max(1).indices`` gives the same answer as ``argmax(1)`` several times faster on a CPU, where an
    argmax across the channel axis of an ``N×C×H×W`` tensor walks memory with a large stride.
    """
    return logits.max(1).indices


def _is_channels_last(model) -> bool:
    return any(p.ndim == 4 and not p.is_contiguous() and p.is_contiguous(memory_format=torch.channels_last)
               for p in model.parameters())


def _loss_fn(loss, ignore_index: int | None = None):
    """The loss by name, told which label to ignore; a callable is the caller's own and is used as it is."""
    if not isinstance(loss, str):
        return loss
    return get_loss(loss, "torch") if ignore_index is None else get_loss(loss, "torch", ignore_index=ignore_index)


def _weighted_loss(ignore_index: int | None):
    def weighted_loss(logits, target, weight_maps):
        return weighted_cross_entropy(logits, target, weight_maps, ignore_index=ignore_index)

    return weighted_loss


def amp_dtype(amp: str, device: torch.device):
    """The autocast dtype for ``amp`` on ``device``, or ``None`` for full precision.

    ``"auto"``: bf16 on a CUDA GPU that supports it (Ampere and newer), fp16
    otherwise on CUDA, nothing on other devices.  ``"bf16"`` and ``"fp16"`` force
    that dtype (bf16 autocast works on a CPU too).
    """
    if amp == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "off": None}[amp]


class TorchTrainer(Trainer):
    framework = "torch"

    def __init__(self, model, train, val, opts: Options):
        if opts.device is not None:
            model.to(opts.device)
        self.model, self.train, self.val, self.opts = model, train, val, opts
        self.device = _device_of(model)
        self.weighted = check_weighting(opts.loss, train)
        # validation scores the model, not the training objective: unweighted cross-entropy
        self.loss_fn = _weighted_loss(opts.ignore_index) if self.weighted else _loss_fn(opts.loss, opts.ignore_index)
        self.val_loss_fn = _loss_fn("cross_entropy", opts.ignore_index) if self.weighted else self.loss_fn
        self.classes = None  # known from the first batch's logits, when the data does not say
        self.dtype = amp_dtype(opts.amp, self.device)
        # fp16's narrow range needs the loss scaled so small gradients do not vanish; bf16 does not
        self.scaler = torch.amp.GradScaler(self.device.type) if self.dtype == torch.float16 else None
        # tensor cores read NHWC natively; on a CPU the default layout is as fast and keeps results bit-stable
        self.channels_last = self.device.type == "cuda" and any(
            isinstance(m, torch.nn.Conv2d) for m in model.modules())
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        self.step_model = self._wrap(model)
        if opts.compile:
            if self.device.type == "cuda":
                self.step_model = torch.compile(self.step_model)
            else:
                warnings.warn(f"compile=True is used on a GPU only; training on {self.device.type} without "
                              "torch.compile", stacklevel=4)
        self.optimizer = _OPTIMIZERS[opts.optimizer](model.parameters(), opts.lr)
        self.sync_every = 1 if self.device.type == "cpu" else 16  # a .item() per step would stall the GPU queue
        self.images, self.masks, self.weight_maps = train.images, train.masks, train.weight_maps
        arrays = [a for a in (train.images, train.masks, train.weight_maps) if a is not None]
        if self.device.type == "cuda" and sum(a.nbytes for a in arrays) < _ON_DEVICE_BYTES:
            self.images, self.masks, self.weight_maps = (
                None if a is None else torch.from_numpy(np.ascontiguousarray(a)).to(self.device)
                for a in (train.images, train.masks, train.weight_maps))

    def seed(self, seed: int) -> None:
        torch.manual_seed(seed)  # seeds every CUDA device too

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def train_mode(self) -> None:
        self.model.train()

    def _batch(self, index: np.ndarray):
        """Images, masks and (weighted training only) weight maps of one batch, on the device."""
        if isinstance(self.images, torch.Tensor):
            at = torch.from_numpy(index).to(self.device, non_blocking=True)
            x = self.images[at].float().permute(0, 3, 1, 2)
            extra = [self.weight_maps[at]] if self.weighted else []
            return x if self.channels_last else x.contiguous(), self.masks[at], *extra
        x = _to_tensor(self.images[index], self.device, self.channels_last)
        extra = [torch.from_numpy(self.weight_maps[index]).to(self.device)] if self.weighted else []
        return x, torch.from_numpy(self.masks[index]).to(self.device), *extra

    def _wrap(self, model):
        """The module that runs the training step: the model itself in one process."""
        return model

    def _share(self, index: np.ndarray) -> tuple[np.ndarray, float]:
        """The images this process trains on and the weight of their loss: all of them, 1, in one process."""
        return index, 1.0

    def step(self, index: np.ndarray) -> torch.Tensor:
        index, weight = self._share(index)
        x, y, *weight_maps = self._batch(index)
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None):
            logits = self.step_model(x)
            if self.classes is None:
                self.classes = self._check_labels(logits.shape[1])
            value = self.loss_fn(logits, y, *weight_maps)
            if weight != 1:  # an unequal share of a data-parallel batch (distributed.py)
                value = value * weight
        clip = self.opts.grad_clip
        if self.scaler is not None:
            self.scaler.scale(value).backward()
            if clip is not None:
                self.scaler.unscale_(self.optimizer)  # clip the true gradients, not the scaled ones
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            value.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            self.optimizer.step()
        self._count(logits.detach(), y)
        return value.detach()

    def _check_labels(self, channels: int) -> int:
        """The training confusion matrix's classes, once every label of the data is a class or the ignore index."""
        if self.val is not None:
            check_data_labels(self.val, channels, self.opts.ignore_index, "val_data")
        return check_data_labels(self.train, channels, self.opts.ignore_index, "train_data")

    def _count(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        """Add the batch to the epoch's confusion matrix, on the device (no wait for the GPU)."""
        k = self.classes
        if self.confusion is None:
            self.confusion = torch.zeros(k * k, dtype=torch.int64, device=logits.device)
        predicted = (logits[:, 0] > 0).long() if logits.shape[1] == 1 else class_indices(logits)
        target = target.long()
        valid = (target >= 0) & (target < k)  # the labels were checked: what is outside is the ignore index
        if self.opts.ignore_index is not None:  # an ignore index inside 0..k-1 leaves out that label too
            valid &= target != self.opts.ignore_index
        self.confusion += torch.bincount((target * k + predicted)[valid], minlength=k * k)

    def reset_training_confusion(self) -> None:
        self.confusion = None

    def training_confusion(self) -> np.ndarray:
        k = math.isqrt(self.confusion.numel())
        return self.confusion.cpu().numpy().reshape(k, k)

    def floats(self, handles: list) -> list[float]:
        return torch.stack(handles).float().cpu().tolist()

    def validate(self) -> dict:
        return evaluate(self.model, self.val, loss=self.val_loss_fn, metrics=self.opts.metrics,
                        batch_size=self.opts.batch_size, ignore_index=self.opts.ignore_index)

    def save(self, directory, state: dict):
        state = {**state, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "scaler": self.scaler.state_dict() if self.scaler is not None else None,
                 "torch_rng": torch.get_rng_state(),
                 "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else []}
        return checkpoint.save_torch(check_checkpoint_dir(directory), state)

    def load(self, directory) -> dict | None:
        state = checkpoint.load_torch(directory)
        if state is None:
            return None
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as err:
            raise ValueError(f"checkpoint {state['path']} does not fit this model or optimiser ({err}); "
                             "pass resume=False or another checkpoint_dir") from err
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        return state


def fit(model, train_data, val_data, opts: Options):
    from . import distributed  # here, not at the top: distributed.py builds on TorchTrainer

    train, val, opts = prepare(train_data, val_data, opts)
    engine = distributed.DistributedTrainer if distributed.launched() else TorchTrainer
    trainer = engine(model, train, val, opts)
    return run(trainer, train, val is not None, trainer.opts)  # data-parallel, only the first process prints


@torch.no_grad()
def _logits(model, images: np.ndarray) -> torch.Tensor:
    return model(_to_tensor(images, _device_of(model), _is_channels_last(model)))


def _labels(logits: torch.Tensor) -> np.ndarray:
    """Class indices from logits: argmax over classes, or a 0.5 threshold for one channel."""
    labels = (logits[:, 0] > 0) if logits.shape[1] == 1 else class_indices(logits)
    return labels.long().cpu().numpy()


def evaluate(model, data, *, loss, metrics, batch_size, ignore_index=None) -> dict:
    metrics = check_metrics(metrics)
    data = as_arrays(data, "data")
    ignore_index = data.ignore_index if ignore_index is None else ignore_index
    loss_fn = _loss_fn(loss, ignore_index) if loss else None
    acc = Evaluation(data.num_classes, metrics, ignore_index)
    with eval_mode(model):
        for index in range(0, len(data), batch_size):
            part = slice(index, index + batch_size)
            logits = _logits(model, data.images[part])
            if index == 0:
                acc.check_labels(data.masks, logits.shape[1])
            target = torch.from_numpy(data.masks[part]).to(logits.device)
            value = loss_fn(logits, target).item() if loss_fn else None
            acc.update(_labels(logits), data.masks[part], value, channels=logits.shape[1])
    return acc.result(metrics, with_loss=loss_fn is not None)


def predict(model, images: np.ndarray, batch_size: int) -> np.ndarray:
    with eval_mode(model):
        out = [_labels(_logits(model, images[i:i + batch_size])) for i in range(0, len(images), batch_size)]
    return np.concatenate(out)
