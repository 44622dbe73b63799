"""Sizes in the U-Nets, plain Python shared by the PyTorch and Keras twins (chapter 4).

The same-padded U-Nets need sizes divisible by ``2**depth``.  The paper's
unpadded U-Net shrinks its input: :func:`input_size_for` and
:func:`output_size_for` give the sizes that work, the basis of overlap-tile
prediction.
"""

from __future__ import annotations


def widths(base_width: int, depth: int) -> list[int]:
    """Channels per level: the base width, doubled at every level down, ``depth + 1`` levels."""
    return [base_width * 2 ** level for level in range(depth + 1)]


def stage_names(depth: int) -> tuple[str, ...]:
    """The stages of a U-Net of ``depth`` levels, in the order one forward pass runs them (chapter 4).

    ``encoder_{l}`` is contracting level ``l``'s output, the map its skip
    copies; ``bottom`` the deepest level; ``decoder_{l}_up`` the up-sampled map
    that expanding level ``l`` concatenates with the (cropped) skip;
    ``decoder_{l}`` that level's output; ``classifier`` the class scores.
    Both twins expose them under these names as ``model.stages`` (with
    ``model.depth``): the PyTorch U-Net maps each to its module, the Keras
    U-Net to the layer whose output the stage is.  ``viz.unet_shapes`` reads
    the shapes of the U-Net figure from them.
    """
    expanding = [name for level in reversed(range(depth)) for name in (f"decoder_{level}_up", f"decoder_{level}")]
    return (*[f"encoder_{level}" for level in range(depth)], "bottom", *expanding, "classifier")


# --- Sizes of the unpadded U-Net ------------------------------------------------
#
# Every 3×3 valid convolution takes 2 pixels off a side, so a level's two
# convolutions take 4; pooling halves (the
# size must be even, or a row is lost and the skip no longer lines up); an
# up-convolution doubles.


def _walk(input_size: int, depth: int) -> tuple[list[int], list[int], int] | None:
    """Sizes along the network: the skips and the up-sampled maps (by level), the output; None if it fails."""
    size, skips, ups = input_size, [], []
    for _ in range(depth):
        size -= 4
        if size < 2 or size % 2:
            return None
        skips.append(size)
        size //= 2
    size -= 4  # the bottom level
    for _ in range(depth):
        size *= 2
        ups.append(size)
        size -= 4
    return (skips, ups[::-1], size) if size >= 1 else None


def _output_size_or_none(input_size: int, depth: int) -> int | None:
    sizes = _walk(input_size, depth)
    return None if sizes is None else sizes[2]


def _input_size_or_none(output_size: int, depth: int) -> int | None:
    if output_size < 1:
        return None
    size = output_size
    for _ in range(depth):  # undo the expanding path, from the top level down
        size += 4
        if size % 2:
            return None
        size //= 2
    size += 4
    for _ in range(depth):
        size = 2 * size + 4
    return size


def _nearest(works, size: int, depth: int) -> str:
    step = 2 ** depth  # sizes that work repeat with this period
    candidates = [s for s in range(max(1, size - step), size + step + 1) if works(s, depth) is not None]
    return ", ".join(str(s) for s in candidates) or "none nearby"


def output_size_for(input_size: int, depth: int = 4) -> int:
    """Output height (or width) of ``unet_valid`` for an input of ``input_size`` pixels.

    Raises ``ValueError`` for sizes the network cannot take: an odd size
    before a pooling, or a map that shrinks to nothing.
    """
    size = _output_size_or_none(input_size, depth)
    if size is None:
        raise ValueError(f"unet_valid (depth {depth}) cannot take {input_size} pixels: every size before a "
                         f"pooling must be even, and the smallest input is {input_size_for(4, depth)}; "
                         f"input sizes that work near it: {_nearest(_output_size_or_none, input_size, depth)}")
    return size


def input_size_for(output_size: int, depth: int = 4) -> int:
    """Input height (or width) that ``unet_valid`` needs to predict ``output_size`` pixels.

    ``input_size_for(388) == 572``, the paper's tile.  Raises ``ValueError``
    for output sizes the network cannot produce.
    """
    size = _input_size_or_none(output_size, depth)
    if size is None:
        raise ValueError(f"unet_valid (depth {depth}) cannot produce {output_size} pixels; output sizes "
                         f"that work near it: {_nearest(_input_size_or_none, output_size, depth)}")
    return size


def skip_crop(level: int, depth: int = 4) -> int:
    """Pixels cropped from each side of encoder level ``level``'s map before the concatenation.

    Both paths change a size by the same affine steps, so the difference is
    the same for every input size that works: 88, 40, 16, 4 for levels 0-3.
    """
    if not 0 <= level < depth:
        raise ValueError(f"level must be in 0..{depth - 1}, got {level}")
    skips, ups, _ = _walk(input_size_for(4, depth), depth)  # an output of 4 works at every depth
    return (skips[level] - ups[level]) // 2


def check_valid(height: int, width: int, depth: int) -> None:
    """Both sizes must go through the unpadded U-Net (see :func:`output_size_for`)."""
    for size in (height, width):
        output_size_for(size, depth)
