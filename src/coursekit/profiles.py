"""The one table of sizes, widths and epochs that every notebook reads.

Notebooks never hard-code an image size, an epoch count or a device: they call
:func:`coursekit.setup`, which picks a profile, and then ask it for the settings
of the experiment they run (``run.settings("basics")``).

``quick`` is sized for two CPU cores (CI, laptops): every chapter runs in a few
minutes and still shows real learning.  ``full`` is sized for one GPU with the
memory of a free Colab T4 (15 GB).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

PROFILES = ("quick", "full")


@dataclass(frozen=True)
class Settings:
    """The numbers of one experiment in one profile."""

    image_size: int
    train_images: int
    val_images: int
    width: int
    epochs: int
    batch_size: int
    lr: float
    image_height: int | None = None  # for frames that are not square: image_size is then their width

    @property
    def image_shape(self) -> tuple[int, int]:
        """(height, width) of the training images: ``image_height`` × ``image_size``, or a square."""
        return (self.image_height or self.image_size, self.image_size)

    def as_dict(self) -> dict:
        return asdict(self)


# experiment -> profile -> settings.  Chapter 1 ("basics") trains a small
# fully convolutional network on the synthetic shapes.  Each chapter owns its row.
TABLE: dict[str, dict[str, Settings]] = {
    "basics": {
        "quick": Settings(image_size=64, train_images=512, val_images=64, width=16,
                          epochs=12, batch_size=16, lr=3e-3),
        "full": Settings(image_size=128, train_images=4000, val_images=400, width=32,
                         epochs=20, batch_size=32, lr=1e-3),
    },
    # Chapter 2 ("fcn"): FCN-32s/16s/8s, narrow in quick, compared on the same data.
    "fcn": {
        "quick": Settings(image_size=128, train_images=192, val_images=48, width=4,
                          epochs=8, batch_size=8, lr=1e-3),
        "full": Settings(image_size=256, train_images=400, val_images=300, width=64,
                         epochs=6, batch_size=8, lr=1e-4),
    },
    # Chapter 2 on CamVid ("fcn_camvid"): the three FCNs on the road scenes, sized as "segnet_camvid" is
    # (image_size × image_height divisible by 32: FCN-32s scores a 128×160 frame on a 4×5 grid); the full
    # profile starts from VGG16's ImageNet weights where they can be had, hence its small learning rate.
    "fcn_camvid": {
        "quick": Settings(image_size=160, image_height=128, train_images=367, val_images=233, width=4,
                          epochs=12, batch_size=8, lr=2e-3),
        "full": Settings(image_size=256, image_height=192, train_images=367, val_images=233, width=64,
                         epochs=15, batch_size=8, lr=1e-4),
    },
    # Chapter 3 ("segnet"): SegNet with pooling indices against plain up-sampling.
    "segnet": {
        "quick": Settings(image_size=64, train_images=512, val_images=64, width=16,
                          epochs=8, batch_size=16, lr=5e-3),
        "full": Settings(image_size=128, train_images=1000, val_images=200, width=64,
                         epochs=8, batch_size=16, lr=1e-3),
    },
    # Chapter 3 on CamVid ("segnet_camvid"): SegNet on the road scenes.  image_size × image_height is the size
    # the frames are resized to (divisible by 32 for five poolings: 120×160 frames become 128×160, 360×480 become
    # 352×480); train_images are the 367 training frames, val_images the 233 test frames that score the model.
    "segnet_camvid": {
        "quick": Settings(image_size=160, image_height=128, train_images=367, val_images=233, width=8,
                          epochs=14, batch_size=8, lr=2e-3),
        "full": Settings(image_size=256, image_height=192, train_images=367, val_images=233, width=64,
                         epochs=25, batch_size=8, lr=1e-3),
    },
    # Chapter 4 ("unet"): U-Net on real microscopy; image_size is the training tile.
    "unet": {
        "quick": Settings(image_size=128, train_images=256, val_images=10, width=8,
                          epochs=12, batch_size=8, lr=3e-3),
        "full": Settings(image_size=256, train_images=1000, val_images=10, width=64,
                         epochs=8, batch_size=8, lr=1e-3),
    },
    # Chapter 6 ("medical"): a U-Net on one real DSB 2018 image, trained on tiles of its left part
    # (image_size: the tile; train_images: tiles per epoch) and scored on its right part cut into
    # val_images tiles, as medical work is scored.
    "medical": {
        "quick": Settings(image_size=64, train_images=192, val_images=32, width=8,
                          epochs=6, batch_size=8, lr=3e-3),
        "full": Settings(image_size=128, train_images=1000, val_images=32, width=32,
                         epochs=30, batch_size=16, lr=1e-3),
    },
    # Chapter 7 ("compare"): FCN-8s, SegNet and the U-Nets trained alike on ISBI 2012 by
    # benchmarks/compare_architectures.py (image_size: the training tile; train_images: tiles per epoch).
    "compare": {
        "quick": Settings(image_size=128, train_images=192, val_images=10, width=8,
                          epochs=10, batch_size=8, lr=3e-3),
        "full": Settings(image_size=256, train_images=1000, val_images=10, width=64,
                         epochs=20, batch_size=8, lr=1e-3),
    },
}


def settings_for(experiment: str, profile: str) -> Settings:
    """Return the settings of ``experiment`` in ``profile`` (``quick`` or ``full``)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {PROFILES}")
    try:
        row = TABLE[experiment]
    except KeyError:
        raise KeyError(f"no settings for experiment {experiment!r}; known: {sorted(TABLE)}") from None
    return row[profile]


def table_markdown() -> str:
    """The whole table as Markdown, for the book's appendix."""
    fields = list(Settings.__dataclass_fields__)
    lines = ["| experiment | profile | " + " | ".join(fields) + " |",
             "|---|---|" + "---|" * len(fields)]
    for experiment, row in TABLE.items():
        for profile, values in row.items():
            cells = ["" if getattr(values, f) is None else str(getattr(values, f)) for f in fields]
            lines.append(f"| {experiment} | {profile} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


_BEGIN = "<!-- profile-table: made by `python -m coursekit.profiles`; a test keeps it equal to the code -->"
_END = "<!-- end profile-table -->"


def write_page(path) -> None:
    """Replace the table between the markers of the appendix page ``path`` (written atomically)."""
    import os
    from pathlib import Path

    path = Path(path)
    text = path.read_text()
    if _BEGIN not in text or _END not in text:
        raise ValueError(f"{path}: the profile-table markers are missing; expected {_BEGIN!r} ... {_END!r}")
    head, rest = text.split(_BEGIN, 1)
    tail = rest.split(_END, 1)[1]
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(f"{head}{_BEGIN}\n{table_markdown()}\n{_END}{tail}")
    os.replace(temporary, path)


if __name__ == "__main__":  # python -m coursekit.profiles [page.md]: print the table, or rewrite it in the page
    import sys

    if len(sys.argv) > 1:
        write_page(sys.argv[1])
    else:
        print(table_markdown())
