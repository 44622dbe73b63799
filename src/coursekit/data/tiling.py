"""Overlap-tile prediction with mirrored borders (chapter 4, U-Net).

Ronneberger et al. (2015, Fig. 2) segment images of any size with a network
that takes fixed tiles: each output tile is predicted from a larger input tile
that holds the context around it, and where that context falls outside the
image it is filled by mirroring the image.  The output tiles join without
seams, and memory limits only the tile, not the image.

The overlap rule.  Say a model's output pixel depends on the input pixels up
to ``r`` pixels away (receptive field ``2r + 1``).  Each input tile is
``tile_size`` pixels and the part of its prediction we keep is the centred
``output_size``, so each kept pixel has ``margin = (tile_size - output_size) / 2``
pixels of context on every side.  With ``margin >= r`` a kept pixel sees exactly
the neighbourhood it would see in one pass over the whole (mirror-padded)
image, so tiled and whole-image predictions agree.  Input tiles step by
``output_size`` and therefore overlap by ``2 * margin`` pixels; kept outputs do
not overlap.

* A valid (unpadded) model returns the ``output_size`` itself: pass its output
  size.  For the paper's unpadded U-Net, ``coursekit.models.unet_sizes`` gives
  the pair: ``predict_tiled(fn, image, input_size_for(388), 388)`` is the
  paper's 572/388 tile (92 pixels of context).
* A same-size model returns ``tile_size`` pixels, whose borders saw zero
  padding; pass ``output_size = tile_size - 2 * r`` (or less) and the border is
  discarded.  ``output_size=None`` keeps whole tiles: no overlap, so seams
  wherever the receptive field crosses a tile edge.

Networks with pooling are equivariant only to shifts by a multiple of
``2**depth`` pixels.  The tiles step by ``output_size``, so the agreement with
a whole-image pass is exact only when the output size is such a multiple.  The
unpadded U-Net's output sizes are ``4 mod 16`` at depth 4 (388 is; ``4 mod 8``
at depth 3, multiples of 4 at depth 2), so at depth 3 and 4 neighbouring tiles
meet the pooling grid at different phases: each pixel still gets its full
context, but the values differ from one pass over a larger image, which keeps
one phase throughout.  Neither is more correct; they are the network's
predictions for two alignments of its pooling grid.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .base import pair_size

PredictFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class TileGrid:
    """Where the tiles of one image go.

    ``padding`` is the mirrored border added to the image, ``((top, bottom),
    (left, right))``.  ``positions`` holds each tile's top-left corner: the
    input tile is ``padded[y:y + tile_h, x:x + tile_w]`` and its kept output
    goes to ``scores[y:y + out_h, x:x + out_w]``, the same numbers because the
    padding on the top and left is exactly the margin.
    """

    tile_size: tuple[int, int]
    output_size: tuple[int, int]
    padding: tuple[tuple[int, int], tuple[int, int]]
    positions: tuple[tuple[int, int], ...]

    @property
    def margin(self) -> tuple[int, int]:
        """Context pixels on each side of a kept output tile, per axis."""
        return tuple((t - o) // 2 for t, o in zip(self.tile_size, self.output_size))


def tile_grid(image_size: Sequence[int], tile_size: int | Sequence[int],
              output_size: int | Sequence[int] | None = None) -> TileGrid:
    """The tile grid for an image of ``image_size`` (height, width); see the module's overlap rule.

    The image is covered by output tiles on a regular grid; the last row and
    column may reach past the image (their extra output is cut off), and the
    input needs a ``margin`` of context all round: both come from mirroring.
    """
    tile = pair_size(tile_size, "tile_size")
    output = tile if output_size is None else pair_size(output_size, "output_size")
    padding, counts = [], []
    for axis, (size, t, o) in enumerate(zip(image_size[:2], tile, output)):
        if o > t or (t - o) % 2:
            raise ValueError(f"output size {o} must not exceed tile size {t}, and the difference must be even "
                             f"so the output sits in the tile's centre (axis {axis})")
        margin, count = (t - o) // 2, -(-size // o)
        padding.append((margin, margin + count * o - size))
        counts.append(count)
    positions = tuple((row * output[0], col * output[1]) for row in range(counts[0]) for col in range(counts[1]))
    return TileGrid(tile, output, tuple(padding), positions)


def _kept(scores: np.ndarray, grid: TileGrid, count: int) -> np.ndarray:
    """The part of a batch's predictions that is kept: all of it (valid model) or the centre (same-size model)."""
    scores = np.asarray(scores)
    if scores.ndim != 4 or scores.shape[0] != count:
        raise ValueError(f"predict_fn must return N×h×w×K scores for {count} tiles, got shape {scores.shape}")
    size = scores.shape[1:3]
    if size == grid.output_size:
        return scores
    if size == grid.tile_size:
        (top, left), (height, width) = grid.margin, grid.output_size
        return scores[:, top:top + height, left:left + width]
    raise ValueError(f"predict_fn returned {size[0]}×{size[1]} scores for {grid.tile_size[0]}×{grid.tile_size[1]} "
                     f"tiles; expected the output size {grid.output_size} or the tile size")


def predict_tiled(predict_fn: PredictFn, image: np.ndarray, tile_size: int | Sequence[int],
                  output_size: int | Sequence[int] | None = None, batch_size: int = 4) -> np.ndarray:
    """Predict ``H×W×K`` scores for an ``H×W×C`` image (or ``H×W``) of any size, tile by tile.

    ``predict_fn`` takes a ``N×h×w×C`` float32 batch of input tiles and
    returns ``N×h'×w'×K`` scores, as NumPy or anything ``numpy.asarray`` takes
    (:func:`torch_predict_fn` and :func:`keras_predict_fn` wrap models).
    ``tile_size`` is the model's input size; ``output_size`` the size of its
    valid output, or for a same-size model the centre to keep (see the module's
    overlap rule).  Tiles go through the model ``batch_size`` at a time.
    """
    image = np.asarray(image, np.float32)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or min(image.shape[:2]) < 2:
        raise ValueError(f"image must be H×W×C with H, W >= 2 (mirroring needs two pixels), got {image.shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    grid = tile_grid(image.shape[:2], tile_size, output_size)
    padded = np.pad(image, (*grid.padding, (0, 0)), mode="reflect")
    (tile_h, tile_w), (out_h, out_w) = grid.tile_size, grid.output_size
    canvas = None
    for start in range(0, len(grid.positions), batch_size):
        corners = grid.positions[start:start + batch_size]
        tiles = np.stack([padded[y:y + tile_h, x:x + tile_w] for y, x in corners])
        scores = _kept(predict_fn(tiles), grid, len(corners))
        if canvas is None:
            rows, cols = grid.positions[-1][0] + out_h, grid.positions[-1][1] + out_w
            canvas = np.empty((rows, cols, scores.shape[-1]), scores.dtype)
        for (y, x), tile_scores in zip(corners, scores):
            canvas[y:y + out_h, x:x + out_w] = tile_scores
    return canvas[:image.shape[0], :image.shape[1]]


def torch_predict_fn(model, device=None) -> PredictFn:
    """Wrap a PyTorch model (``N×C×H×W`` in, logits out) as a ``predict_fn`` on ``N×H×W×C`` NumPy tiles.

    The model runs in eval mode without gradients (dropout off, batch-norm
    statistics frozen) and gets its training mode back afterwards.
    """
    import torch

    if device is None:
        device = next(model.parameters()).device

    from ..models.torch.inference import eval_mode

    def predict(tiles: np.ndarray) -> np.ndarray:
        with eval_mode(model):
            batch = torch.from_numpy(np.ascontiguousarray(tiles.transpose(0, 3, 1, 2))).to(device)
            return model(batch).permute(0, 2, 3, 1).cpu().numpy()

    return predict


def keras_predict_fn(model) -> PredictFn:
    """Wrap a Keras model (``N×H×W×C`` in) as a ``predict_fn``, called in inference mode."""
    import keras

    def predict(tiles: np.ndarray) -> np.ndarray:
        return keras.ops.convert_to_numpy(model(tiles, training=False))

    return predict
