"""Data-parallel torch training with DistributedDataParallel (appendix: Past one GPU).

The training script does not change: started as

    torchrun --nproc_per_node=N train_script.py

it runs as N processes, and :func:`coursekit.train.fit` sees the variables
torchrun sets (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``), or a process group
the script set up itself.  Each process then

* joins the process group (NCCL between GPUs, gloo between CPU processes) and
  trains on GPU ``LOCAL_RANK`` where there is CUDA;
* walks through the same shuffled batches as the others (same seed) and trains
  on its own contiguous share of each: ``batch_size`` stays the global batch,
  so it must be a multiple of N;
* averages its gradients with the others' in every backward pass
  (:class:`~torch.nn.parallel.DistributedDataParallel`), so all processes
  take the same step: the whole batch's, as one process would take it, for a
  loss that is a mean over equally many pixels per image (cross-entropy
  without ignored pixels; losses over the whole batch, as soft Dice's, or
  means over valid pixels only come close but not exactly);
* reports the whole batches' losses and confusion matrix, so every process
  keeps the same history.  Only the first process validates, prints and writes
  checkpoints, which hold the bare model and load in a single process too.

Batch normalisation normalises each process's share with that share's own
statistics, which is not what one process with the whole batch computes;
``model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)`` before
``fit`` shares the statistics across GPUs, at the cost of a synchronisation in
every such layer.  Dropout draws differ between processes (seed + rank); a
checkpoint keeps every process's random state, so a run resumed with the
same number of processes goes on as if never stopped.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from .common import Options, check_split, share_of
from .torch import TorchTrainer

_TORCHRUN = ("RANK", "LOCAL_RANK", "WORLD_SIZE")


def launched() -> bool:
    """Whether this process is one of several data-parallel workers: torchrun started it, or it joined a group."""
    if not dist.is_available():
        return False
    return dist.is_initialized() or all(name in os.environ for name in _TORCHRUN)


@dataclass(frozen=True)
class Group:
    """This process's place among the workers: its rank, their number, and the device it trains on."""

    rank: int
    size: int
    device: torch.device


def _leave() -> None:
    if dist.is_initialized():  # NCCL complains at exit about a group left open
        dist.destroy_process_group()


def join(device=None) -> Group:
    """Join the workers' process group (if the script has not) and pick this process's device.

    With CUDA (and ``device`` None or a CUDA device) each process takes GPU
    ``LOCAL_RANK`` and the group talks NCCL; otherwise it trains on ``device``
    (the CPU by default) and talks gloo.
    """
    cuda = torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")  # reads torchrun's MASTER_ADDR, MASTER_PORT, RANK, ...
        atexit.register(_leave)
    rank = dist.get_rank()
    if cuda:
        here = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank % torch.cuda.device_count())))
        torch.cuda.set_device(here)
    else:
        here = torch.device(device or "cpu")
    return Group(rank, dist.get_world_size(), here)


class DistributedTrainer(TorchTrainer):
    """:class:`~coursekit.train.torch.TorchTrainer` for one of several data-parallel processes."""

    def __init__(self, model, train, val, opts: Options):
        self.group = join(opts.device)
        check_split(len(train), opts.batch_size, self.group.size)
        opts = dataclasses.replace(opts, device=self.group.device, verbose=opts.verbose and self.group.rank == 0)
        super().__init__(model, train, val, opts)

    def _wrap(self, model):
        # DDP copies the first process's weights to the others here, and averages gradients in every backward
        return DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def _share(self, index: np.ndarray) -> tuple[np.ndarray, float]:
        """This process's share and its loss weight: DDP averages the processes' gradients with equal weights, so
        an unequal share (the epoch's last batch) weighs in by its size to give the whole batch's gradient."""
        share = share_of(index, self.group.rank, self.group.size)
        return share, self.group.size * len(share) / len(index)

    def seed(self, seed: int) -> None:
        super().seed(seed + self.group.rank)  # each process draws its own dropout masks

    def floats(self, handles: list) -> list[float]:
        losses = torch.stack(handles).float()
        dist.all_reduce(losses)  # the whole batches' losses on every process: all stop together on a NaN
        return (losses / self.group.size).cpu().tolist()

    def sum_over_processes(self, counts: np.ndarray) -> np.ndarray:
        total = torch.tensor(counts, device=self.device)  # a copy: on a CPU from_numpy would share the trainer's counts
        dist.all_reduce(total)
        return total.cpu().numpy()

    def validate(self) -> dict:
        # one process scores; all must see the same numbers, or a plateau schedule could part their learning rates
        scores = [super().validate() if self.group.rank == 0 else None]
        dist.broadcast_object_list(scores, src=0, device=self.device)
        return scores[0]

    def _random_state(self) -> dict:
        cuda = torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None
        return {"cpu": torch.get_rng_state(), "cuda": cuda}

    def save(self, directory, state: dict):
        states = [None] * self.group.size  # every process's random state, so that each resumes its own draws
        dist.all_gather_object(states, self._random_state())
        if self.group.rank == 0:
            return super().save(directory, {**state, "process_rng": states})
        return None

    def load(self, directory) -> dict | None:
        state = super().load(directory)  # every process reads the file: the same weights and optimiser everywhere
        states = state.get("process_rng") if state is not None else None
        if states and len(states) == self.group.size:  # another number of processes keeps the first's state
            own = states[self.group.rank]
            torch.set_rng_state(own["cpu"])
            if own["cuda"] is not None:
                torch.cuda.set_rng_state(own["cuda"], self.device)
        return state
