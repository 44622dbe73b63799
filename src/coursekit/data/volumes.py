"""Medical volumes: CT in Hounsfield units, a brain MRI template, voxel spacing, slices, splits by patient.

Taught in chapter 5 (Medical image data); the splits by patient in chapter 6 (Scoring medical
segmentation).  A CT or MRI scan is a 3-D array of *voxels* plus a header that says how large a
voxel is (its *spacing*, in millimetres) and how the array's axes lie in the patient.
:func:`coursekit.data.io.read_volume` reads the array in canonical RAS+ orientation (axis 0
towards the patient's Right, axis 1 Anterior, axis 2 Superior); this module adds what a 2-D
segmentation network needs on top:

* **CT windowing** (:func:`window_bounds`, :func:`apply_window`).  CT values are Hounsfield
  units (HU), a physical scale on which water is 0 and air -1000, so the same tissue has
  the same value in every scanner.  A *window* (a level and a width) maps the tissue range
  of interest to [0, 1] and clips the rest.
* **A brain MRI template and its tissue maps** (:func:`load_brain`): the ICBM 2009a MNI152
  T1 template with grey- and white-matter probability maps when a copy is on disk (as
  nilearn ships it), otherwise :func:`brain_phantom`, a synthetic head that imitates it.
* **A synthetic abdominal CT** (:func:`ct_phantom`) in HU with liver, tumour, lungs and
  esophagus labels, to write stand-in files in the real layouts of datasets that need a
  registration (:func:`write_nifti`).
* **Resampling** to a voxel spacing (:func:`resample`): linear for images, nearest
  neighbour for labels, because interpolating class numbers invents classes.
* **Volumes to 2-D slices** (:func:`axial_slices`), shown as radiologists show them.
* **Splits by patient** (:func:`group_split`, :func:`leaked_groups`): slices of one patient
  are alike, so they must all go to the same side of a split.

Nothing here needs a network.  ``nibabel`` is imported only by the functions that read or
write NIfTI files.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .datasets import ABDOMEN_WINDOW, LUNG_WINDOW, DataFallbackWarning
from .download import data_root
from .io import NIFTI_SUFFIXES, DatasetError, read_volume, suffix_of

# Windows as (low, high) in HU.  Windows differ between hospitals; these are common choices.
BRAIN_WINDOW = (0.0, 80.0)  # level 40, width 80: grey and white matter apart, bone and air saturate
WINDOWS = {"abdomen": ABDOMEN_WINDOW, "lung": LUNG_WINDOW, "brain": BRAIN_WINDOW}

BRAIN_CLASSES = ("other", "grey matter", "white matter")
CT_CLASSES = ("background", "liver", "tumour")
MNI_FOLDERS = ("mni152", "MNI152", "mni")

__all__ = ["BRAIN_CLASSES", "BRAIN_WINDOW", "CT_CLASSES", "WINDOWS", "BrainVolume", "CTPhantom",
           "apply_window", "axial_slices", "brain_phantom", "ct_phantom", "group_split", "leaked_groups",
           "load_brain", "load_mni152", "nifti_spacing", "resample", "window_bounds", "write_nifti"]


# ---------------------------------------------------------------- CT windowing

def window_bounds(level: float, width: float) -> tuple[float, float]:
    """The (low, high) HU range of a window given as level (its centre) and width."""
    if width <= 0:
        raise ValueError(f"a window's width must be positive, got {width}")
    return level - width / 2, level + width / 2


def apply_window(hu, window: tuple[float, float] | str) -> np.ndarray:
    """Map HU values to [0, 1]: ``low`` and below to 0, ``high`` and above to 1, linear between.

    ``window`` is ``(low, high)`` or a name of :data:`WINDOWS` (``"abdomen"``, ``"lung"``,
    ``"brain"``).  Works on arrays of any shape; returns float32.
    """
    low, high = WINDOWS[window] if isinstance(window, str) else window
    if high <= low:
        raise ValueError(f"a window needs low < high, got ({low}, {high})")
    hu = np.asarray(hu, np.float32)
    return np.clip((hu - low) / (high - low), 0.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------- NIfTI headers and files

def _nibabel():
    try:
        import nibabel
    except ImportError as error:
        raise ImportError("reading or writing NIfTI files needs nibabel: pip install nibabel") from error
    return nibabel


def nifti_spacing(path) -> tuple[float, ...]:
    """The voxel size in mm along the axes of :func:`~coursekit.data.io.read_volume`'s array (RAS+)."""
    nibabel = _nibabel()
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    try:
        image = nibabel.as_closest_canonical(nibabel.load(str(path)))
    except Exception as error:
        raise DatasetError(f"{path}: cannot read this file as a NIfTI volume ({error})") from error
    return tuple(float(s) for s in image.header.get_zooms()[:3])


def write_nifti(path, data, spacing, dtype=None, intercept: float = 0.0, slope: float = 1.0) -> Path:
    """Write a RAS+ array as a NIfTI file with voxel size ``spacing`` (mm); returns the path.

    Scanners often store CT as unsigned integers with a scaling in the header, ``HU = slope *
    stored + intercept`` (an intercept of -1024 makes air 24, not a negative number).  With
    ``intercept`` or ``slope`` given, ``data`` is converted to the stored integers and the
    header records the scaling, so a reader that applies it (``read_volume``) gets ``data`` back.
    """
    nibabel = _nibabel()
    data = np.asarray(data)
    if data.ndim != 3 or len(spacing) != 3:
        raise ValueError(f"expected a 3-D array and three spacings, got {data.shape} and {spacing}")
    stored = data if (intercept, slope) == (0.0, 1.0) else np.round((data - intercept) / slope)
    if dtype is not None:
        info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
        if info is not None:
            stored = np.round(stored)  # casting alone would truncate: -99.7 HU would become -99
            if stored.min() < info.min or stored.max() > info.max:
                raise ValueError(f"values {stored.min()}..{stored.max()} do not fit {np.dtype(dtype).name}")
        stored = stored.astype(dtype)
    affine = np.diag([*map(float, spacing), 1.0])
    image = nibabel.Nifti1Image(stored, affine)
    image.header.set_zooms(tuple(float(s) for s in spacing))
    if (intercept, slope) != (0.0, 1.0):
        image.header.set_slope_inter(slope, intercept)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nibabel.save(image, str(path))
    return path


# ---------------------------------------------------------------- the brain: MNI152 or a phantom

@dataclass
class BrainVolume:
    """A T1-weighted brain volume with grey- and white-matter probability maps, all RAS+.

    ``t1``, ``gm`` and ``wm`` are ``X×Y×Z`` float32 in [0, 1]; ``spacing`` is the voxel
    size in mm; ``source`` is ``disk`` (the MNI152 template) or ``synthetic``.
    """

    t1: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    spacing: tuple[float, float, float]
    source: str
    location: Path | None = None
    classes: tuple[str, ...] = BRAIN_CLASSES

    def labels(self) -> np.ndarray:
        """One tissue per voxel (0 other, 1 grey matter, 2 white matter): the most probable one."""
        other = np.clip(1.0 - self.gm - self.wm, 0.0, 1.0)
        return np.argmax(np.stack([other, self.gm, self.wm]), axis=0).astype(np.int64)

    def brain_mask(self) -> np.ndarray:
        """Voxels that are more likely brain tissue (grey or white matter) than anything else."""
        return (self.gm + self.wm) > 0.5


def _find_mni_files(folder: Path) -> dict[str, Path] | None:
    files = {}
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.name.startswith(".") or suffix_of(path) not in NIFTI_SUFFIXES:
            continue
        for key in ("t1", "gm", "wm"):
            if re.search(rf"(^|[_\-.]){key}([_\-.]|$)", path.name.lower()):
                files.setdefault(key, path)
    if not files:
        return None
    missing = sorted({"t1", "gm", "wm"} - set(files))
    if missing:
        raise DatasetError(f"{folder}: found {', '.join(p.name for p in files.values())} but no "
                           f"{' or '.join(missing)} volume; the template needs its T1, gm and wm files")
    return files


def _as_probability(volume: np.ndarray) -> np.ndarray:
    """MNI152's maps come as 0..255 (nilearn's uint8 copies) or as 0..1; return 0..1."""
    volume = volume.astype(np.float32)
    return volume / 255.0 if volume.max() > 1.0 + 1e-6 else volume


def load_mni152(root=None) -> BrainVolume | None:
    """The MNI152 T1 template and its tissue maps from ``<root>/mni152/``, or ``None`` if absent.

    Files are recognised by ``t1``, ``gm`` and ``wm`` in their names, as in
    ``mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz`` (the copies nilearn ships).
    """
    base = data_root(root)
    for folder in [base / name for name in MNI_FOLDERS] + [base]:
        files = _find_mni_files(folder)
        if files is None:
            continue
        volumes = {key: _as_probability(read_volume(path)) for key, path in files.items()}
        shapes = {key: v.shape for key, v in volumes.items()}
        if len(set(shapes.values())) > 1:
            raise DatasetError(f"{folder}: the T1 and tissue volumes differ in shape ({shapes})")
        return BrainVolume(volumes["t1"], volumes["gm"], volumes["wm"], nifti_spacing(files["t1"]), "disk", folder)
    return None


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def brain_phantom(shape=(80, 96, 80), spacing: float = 2.0, seed: int = 0) -> BrainVolume:
    """A synthetic brain imitating the (skull-stripped) MNI152 T1 template and its tissue maps.

    Grey matter is a folded shell a few millimetres thick around the white matter, with deep
    grey nuclei inside; the ventricles and the sulci hold CSF.  Tissue maps are probabilities,
    soft at the edges as partial-volume voxels are; the T1 image gives white matter the
    brightest and CSF the darkest signal, with noise and a smooth intensity bias as MRI has.
    RAS+, isotropic ``spacing`` mm.  Stand-in for :func:`load_mni152`.
    """
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in shape)
    axes = [(np.arange(n) - (n - 1) / 2) * spacing for n in shape]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    half = 0.42 * np.array(shape) * spacing  # semi-axes of the brain, in mm
    r = np.sqrt((x / half[0]) ** 2 + (y / half[1]) ** 2 + ((z + 0.1 * half[2]) / half[2]) ** 2)
    theta, phi = np.arctan2(y, x), np.arctan2(z, np.hypot(x, y))
    phases = rng.uniform(0, 2 * np.pi, 3)
    folds = (np.sin(13 * theta + phases[0]) * np.sin(9 * phi + phases[1])
             + 0.6 * np.sin(21 * theta + 15 * phi + phases[2]))
    soft = 0.35 * spacing / half.mean()  # boundaries blur over about a voxel: partial volume
    inside = lambda boundary: _sigmoid((boundary - r) / soft)  # noqa: E731
    surface = 0.92 + 0.025 * folds
    brain = inside(surface)
    white = inside(surface - 0.1 - 0.06 * np.abs(folds))  # the cortex: a shell about 3 to 6 mm thick
    blob = lambda centre, semi: _sigmoid((1 - np.sqrt(sum(((c - m) / s) ** 2 for c, m, s in  # noqa: E731
                                                          zip((x, y, z), centre, semi)))) / 0.15)
    ventricles = sum(blob((dx, 0.05 * half[1], 0.05 * half[2]), (0.06 * half[0], 0.3 * half[1], 0.14 * half[2]))
                     for dx in (-0.09 * half[0], 0.09 * half[0]))
    deep_grey = sum(blob((dx, -0.05 * half[1], -0.05 * half[2]), (0.12 * half[0], 0.14 * half[1], 0.12 * half[2]))
                    for dx in (-0.25 * half[0], 0.25 * half[0]))
    ventricles = np.clip(ventricles, 0, 1) * white
    wm = np.clip(white - ventricles - deep_grey * white, 0, 1)
    gm = np.clip(brain - wm - ventricles, 0, 1)
    csf = np.clip(inside(0.98) - wm - gm, 0, 1)  # sulci and the rim around the brain
    t1 = 0.8 * wm + 0.5 * gm + 0.12 * csf
    field = ndimage.gaussian_filter(rng.normal(size=shape), 8)
    bias = 1 + 0.08 * field / (np.abs(field).max() + 1e-9)  # a smooth bias of at most ±8 %
    t1 = t1 * bias + rng.normal(0, 0.02, shape) * (t1 > 0.05)
    return BrainVolume(np.clip(t1, 0, 1).astype(np.float32), gm.astype(np.float32), wm.astype(np.float32),
                       (float(spacing),) * 3, "synthetic")


def load_brain(root=None, fallback: bool = True, **phantom_options) -> BrainVolume:
    """The MNI152 template if it is on disk (see :func:`load_mni152`), else :func:`brain_phantom`.

    The fallback issues a :class:`~coursekit.data.DataFallbackWarning`; ``fallback=False``
    raises :class:`~coursekit.data.DatasetNotFound` instead.
    """
    from .io import DatasetNotFound

    brain = load_mni152(root)
    if brain is not None:
        return brain
    where = data_root(root) / MNI_FOLDERS[0]
    if not fallback:
        raise DatasetNotFound(f"mni152: no template under {where}; nilearn ships it "
                              "(nilearn/datasets/data/mni_icbm152_*_tal_nlin_sym_09a_converted.nii.gz)")
    warnings.warn(f"mni152: no template under {where}; using the synthetic brain phantom (source='synthetic')",
                  DataFallbackWarning, stacklevel=2)
    return brain_phantom(**phantom_options)


# ---------------------------------------------------------------- an abdominal CT phantom

@dataclass
class CTPhantom:
    """A synthetic CT volume in HU (RAS+) with its labels.

    ``labels``: 0 background, 1 liver, 2 tumour (as the Decathlon's liver task); ``lungs``
    and ``esophagus`` are boolean masks of their own.  ``spacing`` in mm.
    """

    hu: np.ndarray
    labels: np.ndarray
    lungs: np.ndarray
    esophagus: np.ndarray
    spacing: tuple[float, float, float]
    classes: tuple[str, ...] = CT_CLASSES


def _ellipsoid(x, y, z, centre, semi) -> np.ndarray:
    return (((x - centre[0]) / semi[0]) ** 2 + ((y - centre[1]) / semi[1]) ** 2
            + ((z - centre[2]) / semi[2]) ** 2) <= 1.0


def ct_phantom(shape=(128, 128, 40), spacing=(2.8, 2.8, 5.0), seed: int = 0, noise: float = 12.0) -> CTPhantom:
    """A synthetic abdomen-and-lower-chest CT in Hounsfield units, RAS+ (axis 0 towards the patient's right).

    Air (-1000) around a body of fat (-100) and soft tissue (40); a contrast-enhanced liver
    (about 90 HU) on the patient's right with a darker tumour (about 30 HU) at its edge; the
    lungs (-850) in the upper slices; spine (cancellous 300, cortex 900), aorta (170) and a
    small esophagus (35, with a little air in its lumen).  Sizes are in mm, so ``spacing``
    changes the voxel grid, not the anatomy; ``seed`` varies the patient slightly.
    """
    rng = np.random.default_rng(seed)
    shape, spacing = tuple(int(s) for s in shape), tuple(float(s) for s in spacing)
    axes = [(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, spacing)]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    jitter = lambda scale: 1 + rng.uniform(-scale, scale)  # noqa: E731  one patient differs from the next
    body_a, body_b = 160 * jitter(0.08), 115 * jitter(0.08)
    body = (x / body_a) ** 2 + (y / body_b) ** 2 <= 1
    muscle = (x / (body_a - 14)) ** 2 + (y / (body_b - 14)) ** 2 <= 1
    hu = np.full(shape, -1000.0)
    hu[body] = -100.0  # subcutaneous fat
    hu[muscle] = 40.0
    lungs = np.zeros(shape, bool)
    for side in (-1, 1):
        lungs |= _ellipsoid(x, y, z, (side * 72 * jitter(0.05), -5, 120), (55, 78, 100 * jitter(0.1)))
    lungs &= muscle
    hu[lungs] = -850.0
    liver = _ellipsoid(x, y, z, (62 * jitter(0.05), 10, -15 * jitter(0.3)), (78, 72, 65 * jitter(0.1))) & muscle
    liver &= z < 35  # the diaphragm: the liver's dome stops below the lungs
    tumour_centre = (62 + 60, 10 + 25, -15)  # at the liver's right edge, so it meets the body wall
    tumour = _ellipsoid(x, y, z, tumour_centre, (16, 16, 14)) & liver
    hu[liver] = 90.0
    hu[tumour] = 30.0
    spine = (x ** 2 + (y + 75) ** 2) <= 18 ** 2
    hu[spine] = 300.0
    hu[spine & ((x ** 2 + (y + 75) ** 2) >= 15 ** 2)] = 900.0
    hu[((x + 22) ** 2 + (y + 52) ** 2) <= 12 ** 2] = 170.0  # aorta, left of the spine
    esophagus = (((x + 2) ** 2 + (y + 38) ** 2) <= 8 ** 2) & (z > -70)
    hu[esophagus] = 35.0
    hu[esophagus & (((x + 2) ** 2 + (y + 38) ** 2) <= 2.5 ** 2)] = -800.0
    hu += rng.normal(0, noise, shape) * (hu > -950)
    labels = np.zeros(shape, np.int64)
    labels[liver] = 1
    labels[tumour] = 2
    return CTPhantom(hu.astype(np.float32), labels, lungs, esophagus, spacing)


# ---------------------------------------------------------------- spacing, slices, splits

def resample(volume, spacing, new_spacing=None, labels: bool = False, shape=None):
    """Resample ``volume`` from voxel size ``spacing`` to about ``new_spacing`` (mm per axis).

    Returns ``(resampled, actual_spacing)``: the new shape is the old one scaled and rounded,
    so the spacing actually reached can differ slightly from the one asked for.  ``shape``
    asks for an exact output shape instead (to go back to a volume's own grid).  Images are
    interpolated linearly; ``labels=True`` uses nearest neighbour, which copies class
    numbers and never invents one between two others.
    """
    from scipy import ndimage

    volume = np.asarray(volume)
    spacing = np.asarray(spacing, float)
    if volume.ndim != len(spacing) or (spacing <= 0).any():
        raise ValueError(f"need one positive spacing per axis of a {volume.ndim}-D volume, got {tuple(spacing)}")
    if (new_spacing is None) == (shape is None):
        raise ValueError("give either new_spacing or shape")
    if shape is None:
        new_spacing = np.broadcast_to(np.asarray(new_spacing, float), spacing.shape)
        if (new_spacing <= 0).any():
            raise ValueError(f"new_spacing must be positive, got {tuple(new_spacing)}")
        new_shape = np.maximum(np.round(np.array(volume.shape) * spacing / new_spacing).astype(int), 1)
    else:
        new_shape = np.asarray(shape, int)
        if new_shape.shape != spacing.shape or (new_shape < 1).any():
            raise ValueError(f"shape must hold one positive size per axis, got {shape}")
    factors = new_shape / np.array(volume.shape)
    stored = volume.astype(np.uint8) if volume.dtype == bool else volume  # zoom refuses booleans
    resampled = ndimage.zoom(stored, factors, order=0 if labels else 1, mode="nearest", grid_mode=True)
    resampled = resampled[tuple(slice(0, n) for n in new_shape)]  # zoom may round a size up; keep ours
    actual = tuple(float(s) for s in spacing * np.array(volume.shape) / new_shape)
    return resampled.astype(volume.dtype, copy=False), actual


def axial_slices(volume) -> np.ndarray:
    """The axial slices of a RAS+ volume, ``Z×Y×X``, each shown as radiologists show it.

    Slice ``k`` is the plane at height ``k`` (feet to head), anterior at the top and the
    patient's right on the image's left, as ``load_dataset("liver")`` shows its slices.
    """
    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ValueError(f"expected an X×Y×Z volume, got shape {volume.shape}")
    return np.ascontiguousarray(volume[::-1, ::-1, :].transpose(2, 1, 0))


def group_split(groups, val_fraction: float = 0.25, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a training and a validation set such that each group (patient) is on one side only.

    ``groups`` holds one group name per example (the patient of each slice, the volume of each
    tile).  Whole groups are drawn at random (from ``seed``) for validation until about
    ``val_fraction`` of the groups are there; at least one group goes to each side.
    """
    groups = np.asarray(list(groups))
    names = np.unique(groups)
    if len(names) < 2:
        raise ValueError(f"a split by group needs at least two groups, got {len(names)}")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    count = int(np.clip(round(val_fraction * len(names)), 1, len(names) - 1))
    chosen = np.random.default_rng(seed).permutation(names)[:count]
    in_val = np.isin(groups, chosen)
    return np.flatnonzero(~in_val), np.flatnonzero(in_val)


def leaked_groups(groups, train_indices, val_indices) -> list:
    """The groups that have examples on both sides of a split: each one is a leak."""
    groups = np.asarray(list(groups))
    shared = (set(groups[np.asarray(train_indices, int)].tolist())
              & set(groups[np.asarray(val_indices, int)].tolist()))
    return sorted(shared)
