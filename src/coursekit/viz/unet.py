"""Figures for chapter 4 (U-Net).

* :func:`unet_shapes` runs a coursekit U-Net (PyTorch or Keras) once and
  records the shape of every stage; :func:`draw_unet` draws the U from those
  shapes, so the figure always shows the model that was built, not a drawing
  of one.
* :func:`plot_overlap_tile` shows the overlap-tile strategy on a real image:
  the mirrored border, the grid of output tiles and one input tile with the
  part of its prediction that is kept.
* :func:`plot_weight_map` shows the border-weighted loss's weights beside the
  instances they come from; :func:`plot_elastic` an elastic deformation of an
  image and its mask, with a grid that makes the deformation visible.
* :func:`show_errors` draws held-out predictions with their errors for the
  class that matters; :func:`show_tile_seams` where tiles without overlap
  disagree with one pass over the whole image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .core import ERROR_COLOURS, _as_float_rgb, blend, legend_handles, palette

__all__ = ["UNetShapes", "draw_unet", "error_image", "plot_elastic", "plot_overlap_tile", "plot_weight_map",
           "show_errors", "show_tile_seams", "unet_shapes"]

Shape = tuple[int, int, int]  # height, width, channels


@dataclass(frozen=True)
class UNetShapes:
    """The shape (height, width, channels) of each stage of a U-Net, for one input size.

    ``encoder[l]`` is the output of contracting level ``l`` (the map its skip
    copies), ``bottom`` the deepest level, ``up[l]`` the up-sampled map that
    decoder level ``l`` concatenates with the (cropped) skip, ``decoder[l]``
    that level's output and ``output`` the class scores.
    """

    name: str
    input: Shape
    encoder: tuple[Shape, ...]
    bottom: Shape
    up: tuple[Shape, ...]
    decoder: tuple[Shape, ...]
    output: Shape

    @property
    def depth(self) -> int:
        return len(self.encoder)

    def crop(self, level: int) -> int:
        """Pixels the skip of ``level`` loses on each side before the concatenation (0 with same padding)."""
        return (self.encoder[level][0] - self.up[level][0]) // 2


def _torch_shapes(model, height: int, width: int, in_channels: int) -> UNetShapes:
    from ..models.registry import probe_forward

    recorded: dict[str, tuple[int, ...]] = {}
    hooks = [module.register_forward_hook(lambda m, i, out, key=key: recorded.__setitem__(key, tuple(out.shape)))
             for key, module in model.stages.items()]
    probe_forward(model, hooks, in_channels, height, width)
    hwc = {key: (shape[2], shape[3], shape[1]) for key, shape in recorded.items()}
    return _shapes(getattr(model, "name", "unet"), (height, width, in_channels), hwc, model.depth)


def _keras_shapes(model, height: int, width: int, in_channels: int) -> UNetShapes:
    import keras

    outputs = [layer.output for layer in model.stages.values()]
    if tuple(model.inputs[0].shape[1:]) != (height, width, in_channels):
        # built for any size: run zeros of this size through the layers (a model built with
        # input_size=(height, width) knows every shape already, and costs nothing)
        probe = keras.Model(model.inputs, outputs)
        outputs = probe([np.zeros((1, height, width, in_channels), np.float32)], training=False)
    hwc = {key: tuple(int(d) for d in out.shape[1:]) for key, out in zip(model.stages, outputs)}
    return _shapes(model.name, (height, width, in_channels), hwc, model.depth)


def _shapes(name, input_shape, hwc, depth) -> UNetShapes:
    def levels(stage: str) -> tuple[Shape, ...]:
        return tuple(hwc[stage.format(level=level)] for level in range(depth))

    return UNetShapes(name=name, input=tuple(input_shape), encoder=levels("encoder_{level}"), bottom=hwc["bottom"],
                      up=levels("decoder_{level}_up"), decoder=levels("decoder_{level}"), output=hwc["classifier"])


def unet_shapes(model, input_size, in_channels: int | None = None) -> UNetShapes:
    """Run ``model`` (a coursekit ``unet``, ``unet_bn`` or ``unet_valid``) on zeros and record its shapes.

    ``input_size`` is an int or (height, width); ``in_channels`` defaults to
    what the model takes.  Works for the PyTorch and the Keras twins alike:
    both name their stages in ``model.stages`` (see
    :func:`coursekit.models.unet_sizes.stage_names`).
    """
    from ..models.registry import _is_torch

    height, width = (input_size, input_size) if np.isscalar(input_size) else input_size
    if not (hasattr(model, "stages") and hasattr(model, "depth")):
        raise TypeError(f"expected a coursekit U-Net (torch or Keras) with its stages, got {type(model).__name__}")
    if _is_torch(model):
        if in_channels is None:
            in_channels = model.stages["encoder_0"][0].conv.in_channels
        return _torch_shapes(model, int(height), int(width), in_channels)
    if in_channels is None:
        in_channels = int(model.inputs[0].shape[-1])
    return _keras_shapes(model, int(height), int(width), in_channels)


def _size(shape: Shape) -> str:
    height, width, channels = shape
    side = f"{height}²" if height == width else f"{height}×{width}"
    return f"{side}×{channels}"


def draw_unet(shapes: UNetShapes, ax=None, title: str | None = None):
    """The U of Ronneberger et al. (2015, Fig. 1), labelled with ``shapes`` (see :func:`unet_shapes`).

    One box per level: its width grows with the channels, and its label is the
    level's output (height × width × channels).  Arrows: red for 2×2
    max-pooling, green for the ×2 up-sampling, grey for the skip that copies
    (and, in the unpadded U-Net, crops) the contracting path's map into the
    expanding path, where it is concatenated.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch, Rectangle

    depth = shapes.depth
    if ax is None:
        _, ax = plt.subplots(figsize=(9.5, 1.05 * depth + 2.4))
    widest = np.log2(max(s[2] for s in (*shapes.encoder, shapes.bottom)))
    narrowest = np.log2(max(1, min(s[2] for s in shapes.encoder)))

    def box_width(channels: int) -> float:
        span = max(widest - narrowest, 1.0)
        return 1.5 + 1.0 * (np.log2(channels) - narrowest) / span

    height, step, gap = 0.55, 1.0, 1.2
    encoder_x = [0.6 * level for level in range(depth)]
    centre = encoder_x[-1] + 0.6 + box_width(shapes.bottom[2]) / 2 + gap
    decoder_x = [2 * centre - x for x in encoder_x]  # mirror image of the left arm: the U

    def y_of(level: int) -> float:
        return -step * level

    def draw_box(x_left, y, shape, colour, label):
        width = box_width(shape[2])
        ax.add_patch(Rectangle((x_left, y - height / 2), width, height, facecolor=colour, edgecolor="black", lw=1))
        ax.text(x_left + width / 2, y, label, ha="center", va="center", fontsize=9.5)
        return x_left, x_left + width

    def arrow(start, end, colour, style="-|>", **kwargs):
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12, color=colour, lw=1.6,
                                     shrinkA=0, shrinkB=0, **kwargs))

    enc_boxes, dec_boxes = [], []
    for level in range(depth):
        enc_boxes.append(draw_box(encoder_x[level], y_of(level), shapes.encoder[level], "#cfe3f5",
                                  _size(shapes.encoder[level])))
    bottom_width = box_width(shapes.bottom[2])
    bottom_box = draw_box(centre - bottom_width / 2, y_of(depth), shapes.bottom, "#f5e3b3", _size(shapes.bottom))
    for level in range(depth):
        width = box_width(shapes.decoder[level][2])
        dec_boxes.append(draw_box(decoder_x[level] - width, y_of(level), shapes.decoder[level], "#d5efd0",
                                  _size(shapes.decoder[level])))

    pool, up, skip = "#c0392b", "#27ae60", "#7f8c8d"
    for level in range(depth):  # contracting path: pooling down
        x = encoder_x[level] + 0.4
        target_x = bottom_box[0] + 0.3 if level == depth - 1 else x + 0.6
        arrow((x, y_of(level) - height / 2), (target_x, y_of(level + 1) + height / 2), pool)
    for level in range(depth):  # expanding path: up-sampling
        source_x = bottom_box[1] - 0.3 if level == depth - 1 else dec_boxes[level + 1][1] - 0.4
        arrow((source_x, y_of(level + 1) + height / 2), (dec_boxes[level][1] - 0.4 - 0.6 * 0, y_of(level) - height / 2),
              up)
        up_shape = shapes.up[level]
        ax.text((source_x + dec_boxes[level][1]) / 2 + 0.15, y_of(level) - step / 2, _size(up_shape),
                fontsize=7.5, color=up, ha="left", va="center")
    for level in range(depth):  # skips: copy (and crop), then concatenate
        crop = shapes.crop(level)
        arrow((enc_boxes[level][1], y_of(level)), (dec_boxes[level][0], y_of(level)), skip, linestyle="--")
        gap = dec_boxes[level][0] - enc_boxes[level][1]
        label = "copy" if crop == 0 else (f"copy, crop {crop} px a side" if gap > 2.4 else f"crop {crop}")
        ax.text((enc_boxes[level][1] + dec_boxes[level][0]) / 2, y_of(level) + 0.08, label, fontsize=8,
                ha="center", va="bottom", color=skip)
    # input and output
    ax.text(encoder_x[0] - 0.15, y_of(0), f"input\n{_size(shapes.input)}", ha="right", va="center", fontsize=9)
    arrow((dec_boxes[0][1], y_of(0)), (dec_boxes[0][1] + 0.6, y_of(0)), "#8e44ad")
    ax.text(dec_boxes[0][1] + 0.7, y_of(0), f"1×1 conv\n{_size(shapes.output)}\n(class scores)", ha="left",
            va="center", fontsize=9)
    handles = [Line2D([], [], color=pool, lw=2, label="2×2 max-pool (size ÷2)"),
               Line2D([], [], color=up, lw=2, label="up-sample ×2, halve the channels (green: its shape)"),
               Line2D([], [], color=skip, lw=2, ls="--", label="skip: copy (and crop), then concatenate"),
               Rectangle((0, 0), 1, 1, facecolor="#cfe3f5", edgecolor="black",
                         label="contracting level: two 3×3 convs"),
               Rectangle((0, 0), 1, 1, facecolor="#d5efd0", edgecolor="black",
                         label="expanding level: concatenate, two 3×3 convs")]
    ax.legend(handles=handles, loc="upper center", fontsize=8, frameon=False, bbox_to_anchor=(0.5, 0.0), ncol=2)
    ax.set_xlim(encoder_x[0] - 1.6, decoder_x[0] + 2.6)
    ax.set_ylim(y_of(depth) - 0.8, 0.8)
    ax.set_aspect("auto")
    ax.set_axis_off()
    ax.set_title(title or f"{shapes.name}: the shapes of one forward pass ({_size(shapes.input)} in)")
    return ax


def plot_overlap_tile(image: np.ndarray, tile_size: int, output_size: int, tile: int | None = None, axes=None):
    """The overlap-tile strategy (Ronneberger et al. 2015, Fig. 2) on ``image``.

    Left: the image mirrored outwards by the margin the tiles need (the
    dashed magenta frame is the real image), the grid of output tiles, one input
    tile (blue) and the output tile it predicts (yellow).  Right: that input
    tile alone.  ``tile`` picks the tile (default: the first one, whose context
    is mostly mirrored).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from ..data.tiling import tile_grid

    image = _as_float_rgb(image)
    grid = tile_grid(image.shape[:2], tile_size, output_size)
    padded = np.pad(image, (*grid.padding, (0, 0)), mode="reflect")
    (top, bottom), (left, right) = grid.padding
    (margin_y, margin_x), (out_h, out_w) = grid.margin, grid.output_size
    index = 0 if tile is None else tile
    y, x = grid.positions[index]
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 5.4), gridspec_kw={"width_ratios": [1.25, 1]})
    ax = axes[0]
    ax.imshow(padded)
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), image.shape[1], image.shape[0], fill=False, ec="#ff3fd2",
                           ls="--", lw=2, label=f"the image ({image.shape[0]}×{image.shape[1]}); outside: mirrored"))
    for k, (ty, tx) in enumerate(grid.positions):
        ax.add_patch(Rectangle((tx + margin_x - 0.5, ty + margin_y - 0.5), out_w, out_h, fill=False,
                               ec="#f1c40f", lw=0.8, alpha=0.8, label="output tiles" if k == 0 else None))
    ax.add_patch(Rectangle((x - 0.5, y - 0.5), *grid.tile_size[::-1], fill=False, ec="#3498db", lw=2.5,
                           label=f"one input tile ({grid.tile_size[0]}²)"))
    ax.add_patch(Rectangle((x + margin_x - 0.5, y + margin_y - 0.5), out_w, out_h, facecolor="#f1c40f",
                           alpha=0.35, ec="#f1c40f", lw=2, label=f"its output tile ({out_h}²)"))
    ax.set_title("the image (magenta) in its mirrored surroundings")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=2, fontsize=8, frameon=False)
    ax.set_axis_off()
    ax = axes[1]
    ax.imshow(padded[y:y + grid.tile_size[0], x:x + grid.tile_size[1]])
    ax.add_patch(Rectangle((margin_x - 0.5, margin_y - 0.5), out_w, out_h, facecolor="#f1c40f", alpha=0.3,
                           ec="#f1c40f", lw=2))
    inside = (top - y, left - x)  # where the real image starts inside this tile
    if inside[0] > 0 or inside[1] > 0:
        ax.axhline(inside[0] - 0.5, color="#ff3fd2", ls="--", lw=2)
        ax.axvline(inside[1] - 0.5, color="#ff3fd2", ls="--", lw=2)
    ax.set_title(f"one input tile: {margin_y} px of context\naround the {out_h}² it predicts")
    ax.set_axis_off()
    plt.gcf().tight_layout()
    return axes


def plot_weight_map(image: np.ndarray, instances: np.ndarray, weights: np.ndarray, title: str | None = None,
                    axes=None):
    """Image, instances (one colour per object) and the per-pixel weights of the border-weighted loss."""
    import matplotlib.pyplot as plt

    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(11, 3.9))
    else:
        fig = axes[0].figure
    count = int(instances.max())
    colours = np.random.default_rng(0).integers(60, 256, size=(count + 1, 3)).astype(np.uint8)
    colours[0] = 0
    shown_image = _as_float_rgb(image)
    low, high = np.percentile(shown_image, [0.5, 99.5])
    axes[0].imshow(np.clip((shown_image - low) / max(high - low, 1e-6), 0, 1))  # stretched: dim images stay visible
    axes[0].set_title("image (contrast stretched)")
    axes[1].imshow(colours[instances], interpolation="nearest")
    axes[1].set_title(f"{len(np.unique(instances)) - 1} instances (black: background)")
    shown = axes[2].imshow(weights, cmap="magma", interpolation="nearest")
    axes[2].set_title("weight map w(x)")
    fig.colorbar(shown, ax=axes[2], fraction=0.046, pad=0.04, label="loss weight")
    for ax in axes:
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=13)
    fig.tight_layout(rect=(0, 0, 1, 0.93 if title else 1))
    return axes


def _grid_lines(shape, step: int) -> np.ndarray:
    lines = np.zeros(shape[:2], np.int64)
    lines[::step, :] = 1
    lines[:, ::step] = 1
    return lines


def plot_elastic(image: np.ndarray, mask: np.ndarray, field: np.ndarray, colours=None, classes=None,
                 grid_step: int = 16, axes=None):
    """An image and its mask before and after the elastic deformation ``field`` (``2×H×W`` pixels).

    A regular grid of lines is warped with the same field, so the bending is
    visible; the arrows on the first panel are the displacements at a few
    points (where each output pixel takes its value from).
    """
    import matplotlib.pyplot as plt

    from ..data.transforms import warp

    image = np.asarray(image, np.float32)
    if colours is None:
        colours = palette(int(mask.max()) + 1)
    stacked = np.stack([mask, _grid_lines(mask.shape, grid_step)], axis=-1)
    warped_image, warped = warp(image, stacked, field)
    warped_mask, warped_lines = warped[..., 0], warped[..., 1]
    if axes is None:
        fig, axes = plt.subplots(2, 2, figsize=(8.5, 8.8))
        axes = axes.ravel()
    else:
        fig = axes[0].figure
    red = np.array([1.0, 0.2, 0.2])

    def with_lines(picture, lines):
        rgb = _as_float_rgb(picture)
        rgb[lines > 0] = 0.35 * rgb[lines > 0] + 0.65 * red
        return rgb

    axes[0].imshow(with_lines(image, _grid_lines(mask.shape, grid_step)))
    every = max(1, mask.shape[0] // 6)
    yy, xx = np.mgrid[every // 2:mask.shape[0]:every, every // 2:mask.shape[1]:every]
    axes[0].quiver(xx, yy, field[1][yy, xx], field[0][yy, xx], color="yellow", angles="xy", scale_units="xy",
                   scale=1, width=0.006)
    axes[0].set_title("image, grid, displacements (arrows)")
    axes[1].imshow(with_lines(warped_image, warped_lines))
    axes[1].set_title("deformed image")
    axes[2].imshow(blend(image, mask, colours, alpha=0.45, skip_background=False))
    axes[2].set_title("mask")
    axes[3].imshow(blend(warped_image, warped_mask, colours, alpha=0.45, skip_background=False))
    axes[3].set_title("deformed mask (nearest neighbour)")
    for ax in axes:
        ax.set_axis_off()
    if classes is not None:
        fig.legend(handles=legend_handles(classes, colours), loc="lower center", ncol=len(classes), frameon=False)
        fig.tight_layout(rect=(0, 0.04, 1, 1))
    else:
        fig.tight_layout()
    return axes


_ERROR_COLOURS = dict(zip(("correct", "missed (false negative)", "false alarm (false positive)"),
                          ERROR_COLOURS.values()))


def error_image(image: np.ndarray, truth: np.ndarray, prediction: np.ndarray, cls: int,
                alpha: float = 0.75) -> np.ndarray:
    """The image with class ``cls`` coloured: found (green), missed (blue), falsely claimed (red)."""
    rgb = _as_float_rgb(image)
    t, p = np.asarray(truth) == cls, np.asarray(prediction) == cls
    for region, colour in zip((t & p, t & ~p, ~t & p), _ERROR_COLOURS.values()):
        rgb[region] = (1 - alpha) * rgb[region] + alpha * np.asarray(colour)
    return rgb


def show_errors(images, truths, predictions, cls: int, class_name: str, colours, classes,
                max_rows: int = 2, names=None, crop=None):
    """Per row: the truth and the prediction drawn over the image, and the errors for class ``cls``.

    ``crop`` (a pair of slices) zooms into the same window of every image, so
    thin structures stay visible; ``names`` titles the rows.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    window = (slice(None), slice(None)) if crop is None else crop
    rows = min(len(images), max_rows)
    fig, axes = plt.subplots(rows, 3, figsize=(11, 3.8 * rows), squeeze=False)
    for r in range(rows):
        image, truth, prediction = (np.asarray(a[r])[window] for a in (images, truths, predictions))
        panels = [blend(image, truth, colours), blend(image, prediction, colours),
                  error_image(image, truth, prediction, cls)]
        titles = ["truth", "prediction", f"{class_name}: errors"]
        for ax, panel, title in zip(axes[r], panels, titles):
            ax.imshow(panel, interpolation="nearest")
            ax.set_axis_off()
            ax.set_title(title if names is None else f"{names[r]}: {title}")
    handles = [Patch(facecolor="none", edgecolor="grey", label=f"{classes[0]} (not tinted)")]
    handles += legend_handles(classes, colours)[1:]
    handles += [Patch(facecolor=c, label=f"{class_name} {k}") for k, c in _ERROR_COLOURS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=3, frameon=False, fontsize=10)
    fig.tight_layout(rect=(0, 0.7 / fig.get_figheight(), 1, 1))
    return fig


def show_tile_seams(image: np.ndarray, whole: np.ndarray, tiled: np.ndarray, overlapped: np.ndarray,
                    tile_size: int, output_size: int, crop=None):
    """Where tile-by-tile predictions disagree with one pass over the whole image.

    ``tiled`` used whole tiles with no overlap (seams where the tiles meet),
    ``overlapped`` kept only each tile's centre (the overlap-tile strategy).
    Disagreeing pixels are red; the lines are the tile edges of each tiling.
    """
    import matplotlib.pyplot as plt

    window = (slice(None), slice(None)) if crop is None else crop
    offset = [0 if s.start is None else s.start for s in window]
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.4))
    for ax, predicted, step, name in ((axes[0], tiled, tile_size, f"{tile_size}² tiles, no overlap"),
                                      (axes[1], overlapped, output_size,
                                       f"{tile_size}² tiles, centre {output_size}² kept")):
        rgb = _as_float_rgb(image)
        differ = np.asarray(predicted) != np.asarray(whole)
        rgb[differ] = (1.0, 0.1, 0.1)
        ax.imshow(rgb[window], interpolation="nearest")
        height, width = rgb[window].shape[:2]
        for edge in range(step, image.shape[0], step):
            if 0 < edge - offset[0] < height:
                ax.axhline(edge - offset[0] - 0.5, color="#f1c40f", lw=1, alpha=0.8)
        for edge in range(step, image.shape[1], step):
            if 0 < edge - offset[1] < width:
                ax.axvline(edge - offset[1] - 0.5, color="#f1c40f", lw=1, alpha=0.8)
        ax.set_title(f"{name}: {differ.mean():.2%} of pixels differ")
        ax.set_axis_off()
    fig.suptitle("red: label differs from one pass over the whole image; yellow: tile edges")
    fig.tight_layout()
    return fig
