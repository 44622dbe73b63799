"""Time chapter 1's experiment: make the shapes data, train the tiny FCN, score it.

Prints one Markdown table row per run, so CPU and GPU numbers can be compared
side by side.  Usage:

    python benchmarks/train_basics.py --profile quick --framework torch keras
"""

from __future__ import annotations

import argparse
import time

import coursekit
from coursekit import train
from coursekit.data import shapes
from coursekit.models import build, count_params


def run_once(framework: str, profile: str) -> dict:
    run = coursekit.setup(framework=framework, profile=profile, verbose=False)
    s = run.settings("basics")
    start = time.perf_counter()
    train_set = shapes(s.train_images, size=s.image_size, seed=1)
    val_set = shapes(s.val_images, size=s.image_size, seed=2)
    data_seconds = time.perf_counter() - start
    model = build("tiny_fcn", framework, num_classes=train_set.num_classes, width=s.width)
    start = time.perf_counter()
    history = train.fit(model, train_set, val_set, loss="cross_entropy", epochs=s.epochs, lr=s.lr,
                        batch_size=s.batch_size, device=run.device, verbose=False)
    train_seconds = time.perf_counter() - start
    return {"framework": framework, "profile": profile, "device": run.device,
            "params": count_params(model), "images": s.train_images, "size": s.image_size,
            "epochs": s.epochs, "data s": data_seconds, "train s": train_seconds,
            "images/s": s.train_images * s.epochs / train_seconds, "val mIoU": history["val_miou"][-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", nargs="+", default=["quick"], choices=["quick", "full"])
    parser.add_argument("--framework", nargs="+", default=["torch"], choices=["torch", "keras"])
    args = parser.parse_args()
    rows = [run_once(f, p) for p in args.profile for f in args.framework]
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        cells = [f"{v:.3f}" if isinstance(v, float) and v < 10 else f"{v:.0f}" if isinstance(v, float) else str(v)
                 for v in row.values()]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
