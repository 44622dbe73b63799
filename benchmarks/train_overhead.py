"""Measure what coursekit.train.fit costs over a bare PyTorch loop on the same model and data.

Both train chapter 1's tiny FCN on the synthetic shapes with Adam, on the same
batches in the same order from the same seeds, without validation, so they do
the same arithmetic: the script checks that they end with the same weights,
then prints a Markdown table of seconds per epoch (the median over repeats;
the runs of each configuration alternate, so a busy machine slows them alike).
``fit + checkpoints`` also writes a checkpoint after every epoch.  Usage:

    python benchmarks/train_overhead.py                      # the chapter's quick profile, CPU
    python benchmarks/train_overhead.py --device cuda --images 2048 --size 128 --width 32
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np
import torch

from coursekit import train
from coursekit.data import shapes
from coursekit.losses import get_loss
from coursekit.models import build


def model_for(args):
    torch.manual_seed(0)
    return build("tiny_fcn", "torch", num_classes=4, width=args.width).to(args.device)


def bare_loop(model, data, args) -> None:
    """The loop a student would write: shuffle, batch, forward, loss, backward, step."""
    loss_fn = get_loss("cross_entropy", "torch")
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model.train()
    for _ in range(args.epochs):
        total = 0.0
        for index in np.array_split(rng.permutation(len(data)), range(args.batch_size, len(data), args.batch_size)):
            index = np.sort(index)
            x = torch.from_numpy(np.ascontiguousarray(data.images[index].transpose(0, 3, 1, 2))).to(args.device)
            y = torch.from_numpy(data.masks[index]).to(args.device)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)


def with_fit(model, data, args, **options) -> None:
    train.fit(model, data, loss="cross_entropy", epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
              amp="off", verbose=False, **options)


def timed(run, args) -> tuple[float, torch.nn.Module]:
    model = model_for(args)
    if args.device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    run(model)
    if args.device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / args.epochs, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = shapes(args.images, size=args.size, seed=1)
    checkpoints = tempfile.TemporaryDirectory()
    runs = {
        "bare loop": lambda m: bare_loop(m, data, args),
        "fit": lambda m: with_fit(m, data, args),
        "fit + checkpoints": lambda m: with_fit(m, data, args, checkpoint_dir=checkpoints.name, resume=False),
    }
    if args.device != "cpu":  # what mixed precision adds on top, on a GPU
        runs["fit, amp='auto'"] = lambda m: train.fit(m, data, loss="cross_entropy", epochs=args.epochs, lr=args.lr,
                                                      batch_size=args.batch_size, verbose=False)
    timed(runs["fit"], args)  # warm-up: first calls pay for allocations and lazy imports
    seconds = {name: [] for name in runs}
    models = {}
    for _ in range(args.repeats):
        for name, run in runs.items():
            value, models[name] = timed(run, args)
            seconds[name].append(value)
    reference = [p.detach().cpu() for p in models["bare loop"].state_dict().values()]
    difference = max(float((a.double() - b.detach().cpu().double()).abs().max())
                     for a, b in zip(reference, models["fit"].state_dict().values()))
    # on a GPU fit trains in channels-last memory, whose kernels round differently: close, not bit-equal
    same = "yes, bit for bit" if difference == 0 else f"largest difference {difference:.2e}"
    bare = statistics.median(seconds["bare loop"])
    threads = torch.get_num_threads() if args.device == "cpu" else "-"
    print(f"tiny_fcn width {args.width}, {args.images} images {args.size}×{args.size}, batch {args.batch_size}, "
          f"{args.epochs} epochs × {args.repeats} repeats, device {args.device}, threads {threads}; "
          f"fit ends with the bare loop's weights: {same}\n")
    print("| run | s/epoch (median) | min | max | ratio to bare loop |")
    print("|---|---|---|---|---|")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.4f} | {min(values):.4f} | {max(values):.4f} | {median / bare:.3f} |")


if __name__ == "__main__":
    main()
