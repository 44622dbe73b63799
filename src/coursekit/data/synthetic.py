"""Synthetic datasets that need no download, deterministic by seed.

Taught in chapter 1 (A dataset we can make ourselves): ``shapes`` draws discs,
squares and triangles on textured backgrounds, so a first model can learn in
a minute on a CPU while the task is still a real segmentation task: every
pixel needs a class, objects occlude each other, and the background covers
most of the image (class imbalance).
"""

from __future__ import annotations

import numpy as np

from ..colours import palette as make_palette
from .base import ArrayDataset

SHAPE_CLASSES = ("background", "disc", "square", "triangle")
# Hue of each shape class when colours follow the class (see ``class_colours``):
# orange discs, purple squares, cyan triangles.  They differ from the palette's
# class colours (red, green, blue), so a mask drawn over an image stands out.
_CLASS_HUES = {1: 0.08, 2: 0.78, 3: 0.50}


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i])


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random background: a few oriented gratings in muted colours."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    image = np.zeros((size, size, 3))
    base = rng.uniform(0.25, 0.6, 3)
    for _ in range(3):
        angle = rng.uniform(0, np.pi)
        freq = rng.uniform(2, 8)
        phase = rng.uniform(0, 2 * np.pi)
        wave = np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)) + phase)
        image += wave[..., None] * rng.uniform(-0.12, 0.12, 3)
    return base + image


def _shape_mask(kind: int, size: int, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    dx, dy = xx - cx, yy - cy
    # rotate the grid into the shape's own frame
    u = dx * np.cos(angle) + dy * np.sin(angle)
    v = -dx * np.sin(angle) + dy * np.cos(angle)
    if kind == 1:  # disc of radius r
        return u ** 2 + v ** 2 <= r ** 2
    if kind == 2:  # square of half-side 0.8 r, so its area is close to the disc's
        half = 0.8 * r
        return (np.abs(u) <= half) & (np.abs(v) <= half)
    # equilateral triangle inscribed in the circle of radius 1.2 r
    inside = np.ones_like(u, bool)
    for k in range(3):
        theta = angle + 2 * np.pi * k / 3
        inside &= (dx * np.cos(theta) + dy * np.sin(theta)) <= 0.6 * r
    return inside


def shapes(n: int, size: int = 64, seed: int = 0, max_objects: int = 3,
           class_colours: bool = True, noise: float = 0.04) -> ArrayDataset:
    """Make ``n`` images of discs, squares and triangles with their masks.

    Each image has 1 to ``max_objects`` objects of random class, size, position
    and rotation, drawn in order so that later objects occlude earlier ones.
    With ``class_colours=True`` each class has its own hue (with jitter in hue,
    saturation and brightness); with ``False`` every object gets a random colour,
    and only its shape tells its class apart: a harder task.
    ``instances`` numbers the objects of each image (an object hidden entirely
    by later ones leaves no pixels).  The same ``seed`` always gives the same images.
    """
    if n < 1 or size < 16:
        raise ValueError(f"need n >= 1 and size >= 16, got n={n}, size={size}")
    rng = np.random.default_rng(seed)
    images = np.empty((n, size, size, 3), np.float32)
    masks = np.zeros((n, size, size), np.int64)
    instances = np.zeros((n, size, size), np.int64)
    for i in range(n):
        image = _texture(rng, size)
        mask = masks[i]
        for number in range(1, rng.integers(1, max_objects + 1) + 1):
            kind = int(rng.integers(1, len(SHAPE_CLASSES)))
            r = rng.uniform(0.10, 0.22) * size
            cx, cy = rng.uniform(r, size - r, 2)
            region = _shape_mask(kind, size, cx, cy, r, rng.uniform(0, 2 * np.pi))
            if class_colours:
                hue = (_CLASS_HUES[kind] + rng.normal(0, 0.04)) % 1.0
                colour = _hsv_to_rgb(hue, rng.uniform(0.5, 0.9), rng.uniform(0.6, 1.0))
            else:
                colour = rng.uniform(0, 1, 3)
            shade = 1 + 0.15 * (np.mgrid[0:size, 0:size][0] / size - 0.5)  # a soft vertical light gradient
            image[region] = colour * shade[region][:, None]
            mask[region] = kind
            instances[i][region] = number
        image += rng.normal(0, noise, image.shape)
        images[i] = np.clip(image, 0, 1)
    return ArrayDataset(images, masks, SHAPE_CLASSES, make_palette(len(SHAPE_CLASSES)), "synthetic",
                        instances)


# ---------------------------------------------------------------------------
# Synthetic stand-ins for the medical datasets of chapter 5 (Medical image data).
# Each imitates what makes its real dataset hard, so that the chapter's code runs and
# teaches the same lesson with no download: touching nuclei (DSB 2018), thin dark
# membranes between textured cells (ISBI 2012), thin branching vessels inside a
# circular field of view (DRIVE).  They are not a substitute for the real data's
# variety, and the chapter says so where it uses them.

CELL_CLASSES = ("background", "nucleus")
MEMBRANE_CLASSES = ("membrane", "cell")  # as ISBI 2012: 255 (cell interior) is class 1
VESSEL_CLASSES = ("background", "vessel")


def _fourier_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a 2-D array by multiplying its spectrum (periodic borders; no SciPy needed)."""
    fy = np.fft.fftfreq(image.shape[0])[:, None]
    fx = np.fft.rfftfreq(image.shape[1])[None, :]
    kernel = np.exp(-2 * (np.pi * sigma) ** 2 * (fx ** 2 + fy ** 2))
    return np.fft.irfft2(np.fft.rfft2(image) * kernel, s=image.shape)


def _smooth_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    """Smooth random field with zero mean and unit spread; ``sigma`` is its grain in pixels."""
    field = _fourier_blur(rng.normal(size=(size, size)), sigma)
    return (field - field.mean()) / (field.std() + 1e-12)


def _check_sizes(n: int, size: int, smallest: int) -> None:
    if n < 1 or size < smallest:
        raise ValueError(f"need n >= 1 and size >= {smallest}, got n={n}, size={size}")


def _nucleus_layout(rng: np.random.Generator, size: int, radius: float, touching: float) -> list:
    """Centres and radii of nuclei: some free, a fraction ``touching`` pressed against a neighbour."""
    count = max(3, int(rng.uniform(0.08, 0.22) * size ** 2 / (np.pi * radius ** 2)))
    nuclei = []
    for _ in range(count):
        r = radius * rng.uniform(0.75, 1.3)
        for _attempt in range(30):
            if nuclei and rng.random() < touching:
                cy, cx, other = nuclei[rng.integers(len(nuclei))]
                angle = rng.uniform(0, 2 * np.pi)
                # closer than the sum of radii, so the two share a boundary, as dividing nuclei do
                distance = 0.85 * (r + other)
                centre = (cy + distance * np.sin(angle), cx + distance * np.cos(angle))
            else:
                centre = tuple(rng.uniform(0, size, 2))
                if any(np.hypot(centre[0] - y, centre[1] - x) < r + o + 2 for y, x, o in nuclei):
                    continue
            if -r / 2 < centre[0] < size + r / 2 and -r / 2 < centre[1] < size + r / 2:
                nuclei.append((centre[0], centre[1], r))
                break
    return nuclei


def _draw_nuclei(rng: np.random.Generator, size: int, nuclei: list) -> tuple[np.ndarray, np.ndarray]:
    """Instance labels and a brightness map; where nuclei overlap, each pixel goes to the nearest one."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    best = np.full((size, size), 1.0)  # pixels with shape value >= 1 lie outside every nucleus
    labels = np.zeros((size, size), np.int64)
    brightness = np.zeros((size, size))
    chromatin = _smooth_noise(rng, size, 1.5)
    for number, (cy, cx, r) in enumerate(nuclei, start=1):
        a, b, angle = r * rng.uniform(0.9, 1.2), r * rng.uniform(0.7, 0.95), rng.uniform(0, np.pi)
        dy, dx = yy - cy, xx - cx
        u = dx * np.cos(angle) + dy * np.sin(angle)
        v = -dx * np.sin(angle) + dy * np.cos(angle)
        wobble = 1 + 0.08 * np.sin(3 * np.arctan2(v, u) + rng.uniform(0, 2 * np.pi))
        shape = ((u / a) ** 2 + (v / b) ** 2) * wobble
        mine = shape < best
        best[mine] = shape[mine]
        labels[mine] = number
        level = rng.uniform(0.35, 0.9)
        brightness[mine] = level * (1 - 0.35 * shape[mine]) * (1 + 0.12 * chromatin[mine])
    return labels, brightness


def cells(n: int, size: int = 128, seed: int = 0, radius: float | None = None, touching: float = 0.3,
          noise: float = 0.02) -> ArrayDataset:
    """DSB 2018-like fluorescence images: bright nuclei on a dark background, one channel.

    Nuclei are slightly irregular ellipses of varied size and brightness with a chromatin
    texture; a fraction ``touching`` of them is pressed against a neighbour, so that the
    semantic mask (``masks``: 0 background, 1 nucleus) merges them while ``instances``
    (1, 2, ... per nucleus) keeps them apart: the case the U-Net paper's border weights
    are for.  ``radius`` is the mean nucleus radius in pixels (random per image by default,
    as DSB's magnifications vary).  Stand-in for ``load_dataset("dsb2018")``.
    """
    _check_sizes(n, size, 32)
    rng = np.random.default_rng(seed)
    images = np.empty((n, size, size, 1), np.float32)
    instances = np.zeros((n, size, size), np.int64)
    for i in range(n):
        r = radius if radius is not None else size * rng.uniform(0.035, 0.06)
        labels, brightness = _draw_nuclei(rng, size, _nucleus_layout(rng, size, r, touching))
        background = rng.uniform(0.02, 0.08) * (1 + 0.3 * _smooth_noise(rng, size, size / 6))
        image = _fourier_blur(background + brightness, 0.8)  # the microscope's blur softens every edge
        image += rng.normal(0, noise, image.shape)
        images[i, ..., 0] = np.clip(image, 0, 1)
        _, dense = np.unique(labels, return_inverse=True)  # number the nuclei that kept pixels 1, 2, ...
        instances[i] = dense.reshape(labels.shape)
    return ArrayDataset(images, (instances > 0).astype(np.int64), CELL_CLASSES, make_palette(2), "synthetic",
                        instances)


def _cell_seeds(rng: np.random.Generator, size: int, diameter: float) -> np.ndarray:
    """Seed points on a jittered grid, so that no cell is a sliver and none is huge."""
    steps = np.arange(diameter / 2, size + diameter, diameter)
    gy, gx = np.meshgrid(steps, steps, indexing="ij")
    seeds = np.stack([gy.ravel(), gx.ravel()], 1) + rng.uniform(-0.35, 0.35, (gy.size, 2)) * diameter
    return seeds - diameter / 2


def _membrane_map(rng: np.random.Generator, size: int, diameter: float) -> np.ndarray:
    """Distance to the nearest cell boundary of a warped, weighted Voronoi diagram of the seeds."""
    seeds = _cell_seeds(rng, size, diameter)
    weights = rng.uniform(-0.2, 0.2, len(seeds)) * diameter  # some cells grow at their neighbours' cost
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    warp = 0.12 * diameter  # bend the straight Voronoi edges into the curved outlines of real cells
    yy = yy + warp * _smooth_noise(rng, size, diameter / 2)
    xx = xx + warp * _smooth_noise(rng, size, diameter / 2)
    distances = np.hypot(yy[None] - seeds[:, 0, None, None], xx[None] - seeds[:, 1, None, None])
    distances -= weights[:, None, None]
    nearest = np.partition(distances, 1, axis=0)
    return (nearest[1] - nearest[0]) / 2


def _organelles(rng: np.random.Generator, size: int, diameter: float) -> np.ndarray:
    """Darkening by small ellipses inside cells (mitochondria, vesicles): texture that is not membrane."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    darkness = np.zeros((size, size))
    for _ in range(int(rng.uniform(0.5, 1.5) * (size / diameter) ** 2)):
        cy, cx = rng.uniform(0, size, 2)
        a, b, angle = diameter * rng.uniform(0.08, 0.2), diameter * rng.uniform(0.05, 0.1), rng.uniform(0, np.pi)
        u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
        v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
        darkness = np.maximum(darkness, rng.uniform(0.15, 0.35) * ((u / a) ** 2 + (v / b) ** 2 < 1))
    return darkness


def membranes(n: int, size: int = 128, seed: int = 0, cell_size: float | None = None,
              noise: float = 0.05) -> ArrayDataset:
    """ISBI 2012-like electron micrographs: textured cells separated by thin dark membranes.

    Cells are a warped Voronoi tessellation, so their outlines curve; membranes are 2 to 4 px
    thick and dark, and dark organelles inside the cells look like membrane but are not, as in
    the real data.  Labels follow ISBI 2012 (where 255 marks cell interior): ``masks`` is 1 for
    cell interior and 0 for membrane, about 75 % ones.  ``cell_size`` is the mean cell diameter
    in pixels (random per image by default).  One channel.  Stand-in for ``load_dataset("isbi2012")``.
    """
    _check_sizes(n, size, 32)
    rng = np.random.default_rng(seed)
    images = np.empty((n, size, size, 1), np.float32)
    masks = np.zeros((n, size, size), np.int64)
    for i in range(n):
        diameter = cell_size if cell_size is not None else size * rng.uniform(0.14, 0.22)
        boundary_distance = _membrane_map(rng, size, diameter)
        # membranes vary in thickness but never break: a gap would merge two cells
        half_width = np.maximum(rng.uniform(1.0, 1.6) * (1 + 0.25 * _smooth_noise(rng, size, diameter / 3)), 0.9)
        membrane = boundary_distance < half_width
        cytoplasm = rng.uniform(0.55, 0.7) + 0.08 * _smooth_noise(rng, size, 2.0)
        image = cytoplasm - _organelles(rng, size, diameter)
        image = np.where(membrane, rng.uniform(0.1, 0.25), image)
        image = _fourier_blur(image, 0.7) + rng.normal(0, noise, (size, size))
        images[i, ..., 0] = np.clip(image, 0, 1)
        masks[i] = (~membrane).astype(np.int64)
    return ArrayDataset(images, masks, MEMBRANE_CLASSES, make_palette(2), "synthetic")


def _stamp(canvas: np.ndarray, y: float, x: float, radius: float) -> None:
    """Draw an anti-aliased disc into ``canvas`` (coverage 0..1, kept where it is higher)."""
    size = canvas.shape[0]
    reach = int(np.ceil(radius + 1))
    y0, y1 = max(int(y) - reach, 0), min(int(y) + reach + 1, size)
    x0, x1 = max(int(x) - reach, 0), min(int(x) + reach + 1, size)
    if y0 >= y1 or x0 >= x1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1] + 0.5
    coverage = np.clip(radius + 0.5 - np.hypot(yy - y, xx - x), 0, 1)
    canvas[y0:y1, x0:x1] = np.maximum(canvas[y0:y1, x0:x1], coverage)
    if 0 <= y < size and 0 <= x < size:
        # the pixel under the centre line always counts, so thin vessels stay connected in the mask
        canvas[int(y), int(x)] = 1.0


def _grow_vessel(rng, canvas, y, x, heading, width, turn, limits, depth=0) -> None:
    """Grow one vessel step by step around a slowly turning heading, then split it in two.

    ``limits`` is ``(fov_radius, fovea_y, fovea_x, fovea_radius)``: a vessel ends where it leaves
    the field of view or reaches the fovea, which has no vessels.
    """
    size = canvas.shape[0]
    fov_radius, fovea_y, fovea_x, fovea_radius = limits
    angle = heading
    length_to_split = rng.uniform(0.08, 0.2) * size
    for _ in range(int(length_to_split)):
        heading += turn
        # the direction wanders but keeps returning to the heading: wavy, not random-walk, vessels
        angle += 0.2 * (heading - angle) + rng.normal(0, 0.08)
        y, x = y + np.sin(angle), x + np.cos(angle)
        if np.hypot(y - size / 2, x - size / 2) > fov_radius + 2 or np.hypot(y - fovea_y, x - fovea_x) < fovea_radius:
            return
        _stamp(canvas, y, x, width / 2)
    if depth >= 6 or width < 0.9:
        return
    # Murray's law: after a split the cubes of the widths add up, so each child is thinner;
    # the thinner child leaves at the wider angle, the thicker one keeps close to the heading
    share = rng.uniform(0.2, 0.5)
    side = rng.choice([-1, 1])
    for part, swing in ((share, rng.uniform(0.6, 1.2)), (1 - share, rng.uniform(0.1, 0.4))):
        _grow_vessel(rng, canvas, y, x, heading + side * swing, width * part ** (1 / 3),
                     0.7 * turn + rng.normal(0, 0.3 / size), limits, depth + 1)
        side = -side


def _fundus_background(rng: np.random.Generator, size: int, disc: tuple[float, float],
                       fovea: tuple[float, float]) -> np.ndarray:
    """Orange-red retina, darker towards the rim, with a bright optic disc and a dark fovea."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    rim = np.hypot(yy - size / 2, xx - size / 2) / (size / 2)
    light = (1 - 0.45 * rim ** 2) * (1 + 0.06 * _smooth_noise(rng, size, size / 10))
    colour = np.array([rng.uniform(0.75, 0.9), rng.uniform(0.33, 0.42), rng.uniform(0.1, 0.18)])
    image = light[..., None] * colour
    disc_glow = np.exp(-(np.hypot(yy - disc[0], xx - disc[1]) / (0.07 * size)) ** 4)
    image += disc_glow[..., None] * np.array([0.15, 0.45, 0.35])
    fovea_shade = np.exp(-(np.hypot(yy - fovea[0], xx - fovea[1]) / (0.1 * size)) ** 2)
    return image * (1 - 0.35 * fovea_shade[..., None])


def vessels(n: int, size: int = 128, seed: int = 0, noise: float = 0.02) -> ArrayDataset:
    """DRIVE-like colour fundus photographs: branching vessels inside a circular field of view.

    Four vessel trees leave the optic disc (left or right of centre) and arc around the fovea,
    splitting into ever thinner branches, so most vessel pixels belong to thin vessels only a
    few pixels wide, as in DRIVE (about 10 % of the field of view).  ``masks`` is 1 on vessels
    and 0 elsewhere, outside the field of view included; the returned dataset has an extra
    ``fov`` column (``N×H×W`` bool), the circular field of view that DRIVE's
    ``*_mask.gif`` files give, inside which metrics are computed.  Three channels (RGB).
    Stand-in for ``load_dataset("drive")``.
    """
    _check_sizes(n, size, 48)
    rng = np.random.default_rng(seed)
    images = np.empty((n, size, size, 3), np.float32)
    masks = np.zeros((n, size, size), np.int64)
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    fov_radius = 0.47 * size
    fov = np.hypot(yy - size / 2, xx - size / 2) <= fov_radius
    for i in range(n):
        side = rng.choice([-1, 1])  # left or right eye: the optic disc lies on the nasal side
        disc = (size / 2 + rng.normal(0, 0.02) * size, size / 2 + side * 0.3 * size)
        fovea = (size / 2 + rng.normal(0, 0.02) * size, size / 2 - side * 0.05 * size)
        limits = (fov_radius, fovea[0], fovea[1], 0.06 * size)
        canvas = np.zeros((size, size))
        for vertical in (-1, 1):
            # temporal arcades: leave towards the fovea, then bend around it
            heading = np.arctan2(vertical * rng.uniform(0.7, 1.0), -side * 0.5)
            bend = -vertical * side * rng.uniform(1.6, 2.4) / size
            _grow_vessel(rng, canvas, disc[0], disc[1], heading, 0.025 * size * rng.uniform(0.85, 1.15), bend, limits)
            # nasal vessels: leave away from the fovea, nearly straight
            heading = np.arctan2(vertical * rng.uniform(0.5, 1.0), side * 0.7)
            _grow_vessel(rng, canvas, disc[0], disc[1], heading, 0.018 * size * rng.uniform(0.85, 1.15),
                         rng.normal(0, 0.3 / size), limits)
        for _ in range(rng.integers(2, 4)):  # small vessels that leave the disc in any direction
            _grow_vessel(rng, canvas, disc[0], disc[1], rng.uniform(0, 2 * np.pi), 0.01 * size,
                         rng.normal(0, 0.5 / size), limits, depth=3)
        image = _fundus_background(rng, size, disc, fovea)
        image *= 1 - canvas[..., None] * np.array([0.25, 0.55, 0.5])  # blood absorbs green most
        image = np.stack([_fourier_blur(image[..., c], 0.6) for c in range(3)], -1)
        image += rng.normal(0, noise, image.shape)
        images[i] = np.clip(image, 0, 1) * fov[..., None]
        masks[i] = (canvas >= 0.5) & fov
    return ArrayDataset(images, masks, VESSEL_CLASSES, make_palette(2), "synthetic",
                        fov=np.repeat(fov[None], n, axis=0))
