"""Past one GPU (appendix): chapter 1's experiment, run by one process or by N, and how fast each trains.

The script is the same either way; only the line that starts it changes:

    python benchmarks/ddp_example.py                              # one process
    torchrun --nproc_per_node=2 benchmarks/ddp_example.py         # two processes: one per GPU (or CPU share)
    python benchmarks/ddp_example.py --framework keras            # all GPUs, through tf.distribute.MirroredStrategy

Under torchrun only the first process prints.  ``batch_size`` is the global
batch: with N processes each trains on batch_size / N images per step.
"""

from __future__ import annotations

import argparse
import os
import time

import coursekit
from coursekit import train
from coursekit.data import shapes
from coursekit.models import build


def new_model(framework: str, num_classes: int, width: int):
    if framework == "torch":
        return build("tiny_fcn", "torch", num_classes=num_classes, width=width)
    import tensorflow as tf

    with tf.distribute.MirroredStrategy().scope():  # Keras' one change: build the model in the strategy's scope
        return build("tiny_fcn", "keras", num_classes=num_classes, width=width)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", default="torch", choices=["torch", "keras"])
    parser.add_argument("--profile", default="quick", choices=["quick", "full"])
    parser.add_argument("--epochs", type=int, help="instead of the profile's")
    args = parser.parse_args()
    first = os.environ.get("RANK", "0") == "0"  # torchrun numbers its processes; only the first reports
    run = coursekit.setup(framework=args.framework, profile=args.profile, verbose=first)
    s = run.settings("basics")
    epochs = args.epochs or s.epochs
    train_set, val_set = shapes(s.train_images, size=s.image_size, seed=1), shapes(s.val_images, s.image_size, seed=2)
    model = new_model(args.framework, train_set.num_classes, s.width)
    start = time.perf_counter()
    history = train.fit(model, train_set, val_set, loss="cross_entropy", epochs=epochs, lr=s.lr,
                        batch_size=s.batch_size, device=run.device)
    seconds = time.perf_counter() - start
    if first:
        print(f"{s.train_images * epochs / seconds:.0f} training images/s (validation included); "
              f"val mIoU {history['val_mean_iou'][-1]:.3f}")


if __name__ == "__main__":
    main()
