"""The torch side of :mod:`coursekit.train`: one optimisation step, mixed precision, checkpoints.

Taught in chapter 1 (Training).  The loop around the step is shared with Keras
(``common.run``); what is torch's own lives here: autocast and the gradient
scaler, channels-last memory, ``torch.compile``, gradient clipping, and the
checkpoint's tensors.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ..losses import get_loss
from . import checkpoint
from .common import Evaluation, Options, Trainer, as_arrays, check_checkpoint_dir, check_metrics, run

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


def _is_channels_last(model) -> bool:
    return any(p.ndim == 4 and not p.is_contiguous() and p.is_contiguous(memory_format=torch.channels_last)
               for p in model.parameters())


def _loss_fn(loss):
    return get_loss(loss, "torch") if isinstance(loss, str) else loss


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
        self.loss_fn = _loss_fn(opts.loss)
        self.dtype = amp_dtype(opts.amp, self.device)
        # fp16's narrow range needs the loss scaled so small gradients do not vanish; bf16 does not
        self.scaler = torch.amp.GradScaler(self.device.type) if self.dtype == torch.float16 else None
        # tensor cores read NHWC natively; on a CPU the default layout is as fast and keeps results bit-stable
        self.channels_last = self.device.type == "cuda" and any(
            isinstance(m, torch.nn.Conv2d) for m in model.modules())
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        self.step_model = model
        if opts.compile:
            if self.device.type == "cuda":
                self.step_model = torch.compile(model)
            else:
                warnings.warn(f"compile=True is used on a GPU only; training on {self.device.type} without "
                              "torch.compile", stacklevel=4)
        self.optimizer = _OPTIMIZERS[opts.optimizer](model.parameters(), opts.lr)
        self.sync_every = 1 if self.device.type == "cpu" else 16  # a .item() per step would stall the GPU queue
        self.images, self.masks = train.images, train.masks
        if self.device.type == "cuda" and train.images.nbytes + train.masks.nbytes < _ON_DEVICE_BYTES:
            self.images = torch.from_numpy(np.ascontiguousarray(train.images)).to(self.device)
            self.masks = torch.from_numpy(np.ascontiguousarray(train.masks)).to(self.device)

    def seed(self, seed: int) -> None:
        torch.manual_seed(seed)  # seeds every CUDA device too

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def train_mode(self) -> None:
        self.model.train()

    def _batch(self, index: np.ndarray):
        if isinstance(self.images, torch.Tensor):
            at = torch.from_numpy(index).to(self.device, non_blocking=True)
            x = self.images[at].float().permute(0, 3, 1, 2)
            return x if self.channels_last else x.contiguous(), self.masks[at]
        x = _to_tensor(self.images[index], self.device, self.channels_last)
        return x, torch.from_numpy(self.masks[index]).to(self.device)

    def step(self, index: np.ndarray) -> torch.Tensor:
        x, y = self._batch(index)
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None):
            value = self.loss_fn(self.step_model(x), y)
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
        return value.detach()

    def floats(self, handles: list) -> list[float]:
        return torch.stack(handles).float().cpu().tolist()

    def validate(self) -> dict:
        return evaluate(self.model, self.val, loss=self.loss_fn, metrics=self.opts.metrics,
                        batch_size=self.opts.batch_size)

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
    train = as_arrays(train_data, "train_data")
    val = as_arrays(val_data, "val_data") if val_data is not None else None
    return run(TorchTrainer(model, train, val, opts), train, val is not None, opts)


@torch.no_grad()
def _logits(model, images: np.ndarray) -> torch.Tensor:
    return model(_to_tensor(images, _device_of(model), _is_channels_last(model)))


def _labels(logits: torch.Tensor) -> np.ndarray:
    """Class indices from logits: argmax over classes, or a 0.5 threshold for one channel."""
    labels = (logits[:, 0] > 0) if logits.shape[1] == 1 else logits.argmax(1)
    return labels.long().cpu().numpy()


def evaluate(model, data, *, loss, metrics, batch_size) -> dict:
    metrics = check_metrics(metrics)
    data = as_arrays(data, "data")
    loss_fn = _loss_fn(loss) if loss else None
    was_training = model.training
    model.eval()
    acc = Evaluation(data.num_classes, metrics)
    try:
        for index in range(0, len(data), batch_size):
            part = slice(index, index + batch_size)
            logits = _logits(model, data.images[part])
            target = torch.from_numpy(data.masks[part]).to(logits.device)
            value = loss_fn(logits, target).item() if loss_fn else None
            acc.update(_labels(logits), data.masks[part], value, channels=logits.shape[1])
    finally:
        model.train(was_training)
    return acc.result(metrics, with_loss=loss_fn is not None)


def predict(model, images: np.ndarray, batch_size: int) -> np.ndarray:
    was_training = model.training
    model.eval()
    try:
        out = [_labels(_logits(model, images[i:i + batch_size])) for i in range(0, len(images), batch_size)]
    finally:
        model.train(was_training)
    return np.concatenate(out)
