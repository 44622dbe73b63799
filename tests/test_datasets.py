"""coursekit.data.load_dataset and its readers, on tiny fixtures of every official layout.

Fixtures are written into ``tmp_path`` with Pillow, tifffile and nibabel; the developers' real
data in ``../shared/data`` is used where present and skipped cleanly where not.
"""

import gc
import hashlib
import random
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from coursekit.data import (
    ArrayDataset,
    DataFallbackWarning,
    DatasetError,
    DatasetNotFound,
    FileDataset,
    load_dataset,
    read_image,
    read_mask,
    read_stack,
    read_volume,
)
from coursekit.data.datasets import SAMPLES
from coursekit.viz import colorize_mask

tifffile = pytest.importorskip("tifffile")
nibabel = pytest.importorskip("nibabel")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


# ---------------------------------------------------------------- writing fixtures

def png(path: Path, array) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array)).save(path)
    return path


def tif(path: Path, array) -> Path:
    """One TIFF; a 3-D array whose last axis is not colour becomes a stack of grey pages."""
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.asarray(array)
    colour = array.ndim == 3 and array.shape[-1] == 3
    tifffile.imwrite(path, array, photometric="rgb" if colour else "minisblack")
    return path


def palette_gif(path: Path, binary: np.ndarray) -> Path:
    """A black/white GIF whose palette indices (3 and 7) are not the grey levels (0 and 255), as in DRIVE."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(np.where(binary, 7, 3).astype(np.uint8), mode="P")
    table = [0] * 768
    table[7 * 3: 7 * 3 + 3] = [255, 255, 255]
    image.putpalette(table)
    image.save(path, optimize=False)  # keep the indices as they are
    return path


def nifti(path: Path, array, affine=None, slope=None, inter=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    volume = nibabel.Nifti1Image(np.asarray(array), np.eye(4) if affine is None else affine)
    if slope is not None:
        volume.header.set_slope_inter(slope, inter)
    nibabel.save(volume, str(path))
    return path


def binary(size=16, key=0) -> np.ndarray:
    """A 0/255 mask whose white column ``key`` tells which example it belongs to."""
    mask = np.zeros((size, size), np.uint8)
    mask[:, key % size] = 255
    return mask


def grey(size=16, value=100) -> np.ndarray:
    return np.full((size, size), value, np.uint8)


def isbi_png(root: Path, keys=(0, 1, 2)) -> Path:
    for key in keys:
        png(root / "isbi2012" / "train" / "image" / f"{key}.png", grey(value=10 + key))
        png(root / "isbi2012" / "train" / "label" / f"{key}.png", binary(key=key))
    return root


def corneal_flat(root: Path, keys=("00001", "00002")) -> Path:
    for number, key in enumerate(keys):
        png(root / "corneal" / f"{key}.png", grey(value=20 + number))
        png(root / "corneal" / f"{key}_mask.png", binary(key=number))
    return root


def quiet_load(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataFallbackWarning)  # a fixture must be found on disk, never fall back
        return load_dataset(*args, **kwargs)


# ---------------------------------------------------------------- readers

def test_gif_mask_is_read_through_its_palette(tmp_path):
    truth = np.zeros((8, 8), bool)
    truth[2:5, 3] = True
    path = palette_gif(tmp_path / "21_manual1.gif", truth)
    assert set(np.unique(np.asarray(Image.open(path)))) == {3, 7}  # the trap: indices are not grey levels
    np.testing.assert_array_equal(read_mask(path), np.where(truth, 255, 0))


def test_gif_gives_its_first_frame(tmp_path):
    frames = [Image.fromarray(binary(8, key)).convert("P") for key in (1, 5)]
    frames[0].save(tmp_path / "two.gif", save_all=True, append_images=frames[1:])
    np.testing.assert_array_equal(read_mask(tmp_path / "two.gif"), binary(8, 1))


def test_reading_a_multi_frame_file_leaves_it_closed(tmp_path):
    """A file left open is closed only when collected, with a ResourceWarning (and, on PyPy, much later)."""
    frames = [Image.fromarray(binary(8, key)).convert("P") for key in (1, 5)]
    frames[0].save(tmp_path / "two.gif", save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "two.tif", save_all=True, append_images=frames[1:])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        kept = [read_mask(tmp_path / "two.gif"), read_image(tmp_path / "two.gif"), read_stack(tmp_path / "two.tif")]
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)], [str(w.message) for w in caught]
    assert kept[2].shape[0] == 2


def test_coloured_palette_png_keeps_its_indices(tmp_path):
    image = Image.fromarray(np.array([[0, 1], [2, 1]], np.uint8), mode="P")
    image.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * 759)  # PASCAL VOC's colours
    image.save(tmp_path / "voc.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "voc.png"), [[0, 1], [2, 1]])
    assert read_image(tmp_path / "voc.png").shape == (2, 2, 3)  # as an image, the colours


def test_tiff_pages_and_16_bit(tmp_path):
    stack = np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5) * 60
    tif(tmp_path / "stack.tif", stack)
    np.testing.assert_array_equal(read_stack(tmp_path / "stack.tif"), stack)
    np.testing.assert_array_equal(read_image(tmp_path / "stack.tif"), stack[0])
    assert read_image(tmp_path / "stack.tif").dtype == np.uint16
    png(tmp_path / "sixteen.png", np.array([[0, 4095]], np.uint16))
    assert read_image(tmp_path / "sixteen.png").max() == 4095


def test_nifti_is_reoriented_to_ras(tmp_path):
    volume = np.zeros((4, 5, 3), np.int16)
    volume[0, 0, 0] = 1
    lps = np.diag([-1.0, -1.0, 1.0, 1.0])  # the DICOM convention: x and y flipped
    ras = read_volume(nifti(tmp_path / "ras.nii.gz", volume), labels=True)
    flipped = read_volume(nifti(tmp_path / "lps.nii.gz", volume, lps), labels=True)
    assert ras[0, 0, 0] == 1 and flipped[3, 4, 0] == 1


# ---------------------------------------------------------------- ISBI 2012

def test_isbi_tiff_stacks(tmp_path):
    folder = tmp_path / "isbi2012"
    tif(folder / "train-volume.tif", np.stack([grey(value=v) for v in (0, 128, 255)]))
    tif(folder / "train-labels.tif", np.stack([binary(key=k) for k in range(3)]))
    data = quiet_load("isbi2012", root=tmp_path)
    assert isinstance(data, ArrayDataset) and data.source == "disk" and len(data) == 3
    assert data.images.shape == (3, 16, 16, 1) and data.images.dtype == np.float32
    np.testing.assert_allclose(data.images[:, 0, 0, 0], [0, 128 / 255, 1])
    assert data.classes == ("membrane", "cell") and data.palette.shape == (2, 3)
    np.testing.assert_array_equal(data.masks[2], binary(key=2) // 255)


def test_isbi_png_export_sorted_by_number(tmp_path):
    data = quiet_load("isbi2012", root=isbi_png(tmp_path, keys=(10, 2, 0, 1)))
    # natural order 0, 1, 2, 10 (not the text order 0, 1, 10, 2)
    np.testing.assert_allclose(data.images[:, 0, 0, 0] * 255, [10, 11, 12, 20], atol=1e-4)
    assert [int(np.argmax(m[0])) for m in data.masks] == [0, 1, 2, 10]


def test_pairs_follow_names_not_listing_order(tmp_path, monkeypatch):
    isbi_png(tmp_path, keys=range(6))
    listdir = __import__("os").listdir
    shuffler = random.Random(3)

    def shuffled(folder):
        names = listdir(folder)
        shuffler.shuffle(names)  # every folder listed in another random order
        return names

    monkeypatch.setattr("os.listdir", shuffled)
    data = quiet_load("isbi2012", root=tmp_path)
    for key, (image, mask) in enumerate(data):
        assert round(float(image[0, 0, 0]) * 255) == 10 + key
        assert mask[0].argmax() == key


def test_shared_isbi_is_read_from_disk(tmp_path):
    if not (SHARED / "isbi2012" / "train" / "image" / "0.png").is_file():
        pytest.skip("../shared/data/isbi2012 is not present")
    data = quiet_load("isbi2012", root=SHARED)
    assert data.source == "disk" and len(data) == 30 and data.images.shape[1:] == (512, 512, 1)
    assert 0.7 < data.masks.mean() < 0.85  # about 78 % of the pixels are cell interior
    with pytest.warns(DataFallbackWarning):
        shipped = load_dataset("isbi2012", root=tmp_path)
    np.testing.assert_array_equal(shipped.images, data.images[:3])
    np.testing.assert_array_equal(shipped.masks, data.masks[:3])


# ---------------------------------------------------------------- DSB 2018

def kaggle_nuclei(root: Path) -> Path:
    stage = root / "dsb2018" / "stage1_train"
    rgba = np.zeros((12, 12, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[2:6, 2:10, :3] = 200
    png(stage / "b" / "images" / "b.png", rgba)
    left, right = np.zeros((12, 12), np.uint8), np.zeros((12, 12), np.uint8)
    left[2:6, 2:6], right[2:6, 6:10] = 255, 255  # two touching nuclei
    png(stage / "b" / "masks" / "m2.png", right)
    png(stage / "b" / "masks" / "m1.png", left)
    png(stage / "b" / "masks" / "m0.png", np.zeros((12, 12), np.uint8))  # an empty mask file, first by name
    png(stage / "a" / "images" / "a.png", rgba)
    (stage / "a" / "masks").mkdir()  # an image without nuclei
    return root


def test_dsb_kaggle_union_and_instances(tmp_path):
    data = quiet_load("dsb2018", root=kaggle_nuclei(tmp_path))
    assert isinstance(data, FileDataset) and data.names == ["a", "b"] and data.channels == 3
    image, mask = data[1]
    assert image.shape == (12, 12, 3) and mask.dtype == np.int64
    instances = data.instances[1]
    assert mask.sum() == 32 and set(np.unique(instances)) == {0, 1, 2}
    assert (instances[2:6, 2:6] == 1).all() and (instances[2:6, 6:10] == 2).all()  # m1 before m2, by name
    np.testing.assert_array_equal(mask, instances > 0)
    empty_image, empty_mask = data[0]
    assert empty_mask.sum() == 0 and data.instances[0].max() == 0


def test_dsb_stardist_subset(tmp_path):
    labels = np.zeros((10, 10), np.uint16)
    labels[1:4, 1:4], labels[5:9, 5:9] = 3, 17
    tif(tmp_path / "dsb2018" / "train" / "images" / "x.tif", (labels > 0).astype(np.uint16) * 200)
    tif(tmp_path / "dsb2018" / "train" / "masks" / "x.tif", labels)
    tif(tmp_path / "dsb2018" / "test" / "images" / "y.tif", np.zeros((10, 10), np.uint16))
    tif(tmp_path / "dsb2018" / "test" / "masks" / "y.tif", np.zeros((10, 10), np.uint16))
    data = quiet_load("dsb2018", root=tmp_path)
    image, mask = data[0]
    assert image.shape == (10, 10, 1) and image.max() == pytest.approx(200 / 255)
    np.testing.assert_array_equal(mask, labels > 0)
    np.testing.assert_array_equal(data.instances[0], labels)
    assert len(quiet_load("dsb2018", root=tmp_path, split="test")) == 1


def test_dsb_sample_is_shipped(tmp_path):
    with pytest.warns(DataFallbackWarning, match="shipped"):
        data = load_dataset("dsb2018", root=tmp_path)
    assert data.source == "sample" and data.images.shape == (1, 512, 512, 1)
    assert len(np.unique(data.instances[0])) == 126  # 125 nuclei and the background
    np.testing.assert_array_equal(data.masks, data.instances > 0)
    assert data.images[data.masks == 1].mean() > 2 * data.images[data.masks == 0].mean()  # bright nuclei


def test_shared_dsb_image_matches_the_sample():
    if not (SHARED / "dsb2018_sample" / "mask2d.tif").is_file():
        pytest.skip("../shared/data/dsb2018_sample is not present")
    np.testing.assert_array_equal(read_mask(SHARED / "dsb2018_sample" / "mask2d.tif"),
                                  read_mask(SAMPLES / "dsb2018" / "mask2d.tif"))


# ---------------------------------------------------------------- DRIVE

def drive(root: Path, split="training", numbers=("21", "22"), manual=True) -> Path:
    base = root / "drive" / "DRIVE" / split  # as unzipped: one folder below <root>/drive
    tag = "training" if split == "training" else "test"
    for index, number in enumerate(numbers):
        photo = np.zeros((16, 16, 3), np.uint8)
        photo[..., 0] = 150 + index
        tif(base / "images" / f"{number}_{tag}.tif", photo)
        if manual:
            palette_gif(base / "1st_manual" / f"{number}_manual1.gif", binary(key=index) > 0)
        fov = np.zeros((16, 16), bool)
        fov[2:14, 2:14] = True
        palette_gif(base / "mask" / f"{number}_{tag}_mask.gif", fov)
    return root


def test_drive_layout_with_fov(tmp_path):
    drive(tmp_path)
    drive(tmp_path, "test", ("01", "02", "03"))
    (tmp_path / "drive" / "DRIVE" / "training" / "images" / "Thumbs.db").write_bytes(b"junk")  # ignored
    data = quiet_load("drive", root=tmp_path)
    assert data.names == ["21", "22"] and data.classes == ("background", "vessel")
    image, mask = data[1]
    assert image.shape == (16, 16, 3) and image[0, 0, 0] == pytest.approx(151 / 255)
    np.testing.assert_array_equal(mask, binary(key=1) // 255)  # read through the GIF palette
    assert data.fov[0].dtype == bool and data.fov[0].sum() == 144
    assert len(quiet_load("drive", root=tmp_path, split="test")) == 3
    whole = data.load()
    assert whole.fov.shape == (2, 16, 16) and whole.masks.shape == (2, 16, 16)


def test_drive_test_set_without_annotations(tmp_path):
    drive(tmp_path, "test", ("01",), manual=False)
    with pytest.raises(DatasetError, match="1st_manual"):
        load_dataset("drive", root=tmp_path, split="test")


# ---------------------------------------------------------------- liver CT

def liver_volumes(root: Path, labels=None) -> Path:
    raw = np.zeros((6, 8, 2), np.int16)  # stored values; HU = raw - 1024
    raw[:] = 1024 - 100  # -100 HU: the bottom of the abdomen window
    raw[1, 7, :] = 1024 + 200  # +200 HU at the patient's far right and front: top-left in the view
    raw[3, 3, 1] = 1024 + 50
    if labels is None:
        labels = np.zeros((6, 8, 2), np.uint8)
        labels[1, 7, :], labels[3, 3, 1] = 1, 2
    nifti(root / "liver" / "Task03_Liver" / "imagesTr" / "liver_0.nii.gz", raw, slope=1.0, inter=-1024.0)
    nifti(root / "liver" / "Task03_Liver" / "labelsTr" / "liver_0.nii.gz", labels)
    (root / "liver" / "Task03_Liver" / "imagesTr" / "._liver_0.nii.gz").write_bytes(b"macOS")  # skipped
    return root


def test_liver_decathlon_slices_window_and_labels(tmp_path):
    data = quiet_load("liver", root=liver_volumes(tmp_path))
    assert len(data) == 2 and data.classes == ("background", "liver", "tumour")
    assert data.slices[1] == ("liver_0.nii.gz", 1)
    assert data.load().slices == [("liver_0.nii.gz", 0), ("liver_0.nii.gz", 1)]  # the column travels into memory
    image, mask = data[1]
    assert image.shape == (8, 6, 1)  # anterior-posterior rows, right-left columns
    assert image[0, 4, 0] == pytest.approx(1.0) and mask[0, 4] == 1  # x=1 of 6: near the right, shown left
    assert image[4, 2, 0] == pytest.approx(150 / 300) and mask[4, 2] == 2
    assert image.min() == 0.0 and set(np.unique(mask)) == {0, 1, 2}
    narrow = quiet_load("liver", root=tmp_path, window=(0, 100))
    assert narrow[1][0][4, 2, 0] == pytest.approx(0.5)


def test_liver_lits_naming(tmp_path):
    nifti(tmp_path / "liver" / "volume-0.nii", np.zeros((4, 4, 3), np.int16))
    nifti(tmp_path / "liver" / "segmentation-0.nii", np.zeros((4, 4, 3), np.uint8))
    data = quiet_load("liver", root=tmp_path)
    assert len(data) == 3 and data[2][1].sum() == 0  # an empty label slice is fine


def test_liver_reads_real_compressed_nifti(tmp_path):
    t1 = SHARED / "mni152" / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
    if not t1.is_file():
        pytest.skip("../shared/data/mni152 is not present")
    source = nibabel.load(str(t1))
    brain = (np.asarray(source.dataobj) > 60).astype(np.uint8)  # a stand-in label: the bright head
    folder = tmp_path / "liver" / "imagesTr"
    folder.mkdir(parents=True)
    (folder / "mni.nii.gz").symlink_to(t1)
    nifti(tmp_path / "liver" / "labelsTr" / "mni.nii.gz", brain, source.affine)
    data = quiet_load("liver", root=tmp_path, window=(0, 255))
    assert len(data) == 189
    image, mask = data[95]
    assert image.shape == (233, 197, 1) and 0 < mask.mean() < 1
    rows, cols = np.nonzero(mask)
    assert np.ptp(rows) > np.ptp(cols)  # a head is longer front to back than side to side


# ---------------------------------------------------------------- lung, corneal nerves, esophagus

def test_lung_ct_in_hounsfield_units(tmp_path):
    hu = np.full((8, 8), -1400, np.float32)  # below the lung window (level -600, width 1500)
    hu[2:6, 2:6] = 400                          # above it
    hu[7, 7] = -600                             # its level
    tif(tmp_path / "lung" / "2d_images" / "ID_0000_Z_0142.tif", hu)
    tif(tmp_path / "lung" / "2d_masks" / "ID_0000_Z_0142.tif", ((hu > 0) * 255).astype(np.uint8))
    image, mask = quiet_load("lung", root=tmp_path)[0]
    assert image[0, 0, 0] == 0.0 and image[3, 3, 0] == 1.0 and mask.sum() == 16
    assert image[7, 7, 0] == pytest.approx(0.5)


def test_corneal_flat_and_esophagus_in_split_folders(tmp_path):
    data = quiet_load("corneal", root=corneal_flat(tmp_path))
    assert data.names == ["00001", "00002"] and data.classes == ("background", "nerve")
    np.testing.assert_array_equal(data[1][1], binary(key=1) // 255)
    for split in ("train", "test"):
        png(tmp_path / "esophagus" / split / "00007.png", np.dstack([grey()] * 3))
        png(tmp_path / "esophagus" / split / "00007_mask.png", np.zeros((16, 16), np.uint8))
    image, mask = quiet_load("esophagus", root=tmp_path, split="test")[0]
    assert image.shape == (16, 16, 1) and mask.max() == 0


# ---------------------------------------------------------------- bad input: one test per case

def test_bad_different_counts(tmp_path):
    folder = tmp_path / "isbi2012"
    tif(folder / "train-volume.tif", np.stack([grey()] * 3))
    tif(folder / "train-labels.tif", np.stack([binary()] * 2))
    with pytest.raises(DatasetError, match=r"train-volume\.tif holds 3 slices but .*train-labels\.tif holds 2"):
        load_dataset("isbi2012", root=tmp_path)


def test_bad_different_counts_in_folders(tmp_path):
    isbi_png(tmp_path)
    (tmp_path / "isbi2012" / "train" / "label" / "2.png").unlink()
    with pytest.raises(DatasetError, match=r"holds 3 images but .*label holds 2 masks.*2\.png has no mask"):
        load_dataset("isbi2012", root=tmp_path)


def test_bad_image_without_mask(tmp_path):
    corneal_flat(tmp_path, keys=("00001", "00002"))
    (tmp_path / "corneal" / "00002_mask.png").rename(tmp_path / "corneal" / "00003_mask.png")
    with pytest.raises(DatasetError, match=r"00002\.png: this image has no mask \(expected .*00002_mask\.png\)"):
        load_dataset("corneal", root=tmp_path)


def test_bad_kaggle_image_without_masks_folder(tmp_path):
    png(tmp_path / "dsb2018" / "stage1_train" / "c" / "images" / "c.png", grey())
    with pytest.raises(DatasetError, match=r"c\.png: this image has no mask"):
        load_dataset("dsb2018", root=tmp_path)


def test_bad_mask_saved_as_jpeg(tmp_path):
    corneal_flat(tmp_path, keys=("00001",))
    mask = np.zeros((16, 16), np.uint8)
    mask[4:12, 4:12] = 255
    (tmp_path / "corneal" / "00001_mask.png").unlink()
    Image.fromarray(mask).save(tmp_path / "corneal" / "00001_mask.jpg", quality=60)
    with pytest.raises(DatasetError, match=r"00001_mask\.jpg: .*JPEG"):
        load_dataset("corneal", root=tmp_path)[0]


def test_bad_zero_one_mask_where_255_is_expected(tmp_path):
    isbi_png(tmp_path, keys=(0, 1))
    png(tmp_path / "isbi2012" / "train" / "label" / "1.png", binary(key=1) // 255)
    with pytest.raises(DatasetError, match=r"label/1\.png: .*0/1 mask where 0/255 is expected"):
        load_dataset("isbi2012", root=tmp_path)


def test_bad_too_many_classes(tmp_path):
    labels = np.zeros((6, 8, 2), np.uint8)
    labels[0, 0, 0] = 3
    data = quiet_load("liver", root=liver_volumes(tmp_path, labels))
    with pytest.raises(DatasetError, match=r"labelsTr/liver_0\.nii\.gz: .*too many classes.*liver, tumour"):
        data[0]


def test_bad_mismatched_sizes(tmp_path):
    corneal_flat(tmp_path, keys=("00001",))
    png(tmp_path / "corneal" / "00001_mask.png", np.zeros((16, 20), np.uint8))
    data = quiet_load("corneal", root=tmp_path)
    with pytest.raises(DatasetError, match=r"00001_mask\.png: the mask is 16×20 but its image .*00001\.png is 16×16"):
        data[0]


def test_bad_unreadable_file(tmp_path):
    corneal_flat(tmp_path, keys=("00001", "00002"))
    good = (tmp_path / "corneal" / "00002.png").read_bytes()
    (tmp_path / "corneal" / "00002.png").write_bytes(good[: len(good) // 2])  # a truncated download
    data = quiet_load("corneal", root=tmp_path)
    data[0]
    with pytest.raises(DatasetError, match=r"00002\.png: cannot read this file"):
        data[1]
    (tmp_path / "corneal" / "00001.png").write_text("not an image")
    with pytest.raises(DatasetError, match=r"00001\.png: cannot read this file"):
        data[0]


def test_bad_colour_mask(tmp_path):
    corneal_flat(tmp_path, keys=("00001",))
    png(tmp_path / "corneal" / "00001_mask.png", np.dstack([binary(), np.zeros((16, 16), np.uint8), binary()]))
    with pytest.raises(DatasetError, match=r"00001_mask\.png: this mask is in colour"):
        quiet_load("corneal", root=tmp_path)[0]


def test_bad_file_name_and_duplicates(tmp_path):
    drive(tmp_path)
    tif(tmp_path / "drive" / "DRIVE" / "training" / "images" / "extra.tif", grey())
    with pytest.raises(DatasetError, match=r"extra\.tif: unexpected file name"):
        load_dataset("drive", root=tmp_path)
    isbi_png(tmp_path / "other")
    tif(tmp_path / "other" / "isbi2012" / "train" / "image" / "1.tif", grey())
    with pytest.raises(DatasetError, match=r"1\.tif and .*1\.png are two files for the same example"):
        load_dataset("isbi2012", root=tmp_path / "other")


def test_bad_folder_in_no_known_layout(tmp_path):
    png(tmp_path / "drive" / "photos" / "eye.png", grey())
    with pytest.raises(DatasetError, match=r"drive: this folder is there, but holds no train split"):
        load_dataset("drive", root=tmp_path)


def test_empty_mask_is_fine(tmp_path):
    isbi_png(tmp_path, keys=(0,))
    png(tmp_path / "isbi2012" / "train" / "label" / "0.png", np.zeros((16, 16), np.uint8))
    data = quiet_load("isbi2012", root=tmp_path)
    assert data.masks.sum() == 0 and data.class_frequencies()[0] == 1.0


# ---------------------------------------------------------------- where the data comes from

def test_fallback_order(tmp_path):
    with pytest.warns(DataFallbackWarning, match="shipped with coursekit"):
        assert load_dataset("isbi2012", root=tmp_path).source == "sample"
    with pytest.warns(DataFallbackWarning, match="stand-in 'vessels'"):
        stand_in = load_dataset("drive", root=tmp_path, n=3, size=64)
    assert stand_in.source == "synthetic" and stand_in.fov.shape == (3, 64, 64)
    with pytest.raises(DatasetNotFound, match="grand-challenge"):
        load_dataset("drive", root=tmp_path, fallback=False)
    with pytest.raises(DatasetNotFound, match=r"training split only"):
        load_dataset("dsb2018", root=tmp_path, split="test")
    for name, hint in [("liver", "download"), ("lung", "kaggle"), ("corneal", "no public source"),
                       ("esophagus", "SegTHOR")]:
        with pytest.raises(DatasetNotFound, match=hint) as error:
            load_dataset(name, root=tmp_path)
        assert isinstance(error.value, FileNotFoundError) and str(tmp_path) in str(error.value)


def test_root_defaults_to_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSEKIT_DATA", str(isbi_png(tmp_path)))
    assert quiet_load("isbi2012").source == "disk"
    monkeypatch.delenv("COURSEKIT_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    isbi_png(tmp_path / "home" / ".coursekit" / "data")
    assert quiet_load("isbi2012").source == "disk"


def test_root_may_be_the_dataset_folder(tmp_path):
    assert len(quiet_load("corneal", root=corneal_flat(tmp_path) / "corneal")) == 2


def test_synthetic_names_and_splits():
    train = load_dataset("cells", n=2, size=48)
    test = load_dataset("cells", split="test", n=2, size=48)
    assert train.source == "synthetic" and train.images.shape == (2, 48, 48, 1)
    assert not np.array_equal(train.images, test.images)
    again = load_dataset("shapes", n=2, seed=4).images
    np.testing.assert_array_equal(load_dataset("shapes", n=2, seed=4).images, again)
    assert load_dataset("membranes", n=1, size=48).classes == ("membrane", "cell")
    assert load_dataset("vessels", n=1, size=64).fov.shape == (1, 64, 64)


def test_unknown_names_splits_and_options():
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        load_dataset("mnist")
    with pytest.raises(DatasetError, match="labels for its training volume only"):
        load_dataset("isbi2012", split="test")
    with pytest.raises(TypeError, match="colour"):
        load_dataset("drive", colour=True)


def test_file_dataset_indexing_and_load(tmp_path):
    data = quiet_load("corneal", root=corneal_flat(tmp_path, keys=("00001", "00002", "00003")))
    assert len(data) == 3 and len(list(data)) == 3
    np.testing.assert_array_equal(data[-1][1], data[2][1])
    with pytest.raises(IndexError):
        data[3]
    whole = data.load()
    assert isinstance(whole, ArrayDataset) and whole.images.shape == (3, 16, 16, 1) and whole.source == "disk"
    png(tmp_path / "corneal" / "00003.png", grey(20))
    png(tmp_path / "corneal" / "00003_mask.png", np.zeros((20, 20), np.uint8))
    with pytest.raises(DatasetError, match="one size"):
        data.load()
    assert "corneal" in repr(data)


# ---------------------------------------------------------------- the shipped sample

def test_shipped_sample_files_match_their_readme():
    readme = (SAMPLES / "README.md").read_text()
    listed = dict((path, digest) for digest, path in re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, re.M))
    shipped = sorted(str(p.relative_to(SAMPLES)) for p in SAMPLES.rglob("*") if p.is_file() and p.name != "README.md")
    assert sorted(listed) == shipped
    for path, digest in listed.items():
        assert hashlib.sha256((SAMPLES / path).read_bytes()).hexdigest() == digest
    for citation in ("Cardona", "Arganda-Carreras", "Caicedo", "CC0"):
        assert citation in readme


def test_bilevel_masks_read_as_black_and_white(tmp_path):
    truth = binary(key=3) > 0
    tifffile.imwrite(tmp_path / "bool.tif", truth)
    Image.fromarray(truth).save(tmp_path / "bilevel.png")  # Pillow mode "1"
    for name in ("bool.tif", "bilevel.png"):
        np.testing.assert_array_equal(read_mask(tmp_path / name), binary(key=3))


def test_disk_datasets_can_be_pickled_for_worker_processes(tmp_path):
    import pickle

    drive(tmp_path)
    kaggle_nuclei(tmp_path)
    liver_volumes(tmp_path)
    corneal_flat(tmp_path)
    for name in ("drive", "dsb2018", "liver", "corneal"):
        data = quiet_load(name, root=tmp_path)
        copy = pickle.loads(pickle.dumps(data))
        np.testing.assert_array_equal(copy[0][1], data[0][1])


def test_a_shipped_sample_is_found_and_a_missing_one_is_named_with_what_ships():
    from coursekit.data import sample_file

    assert sample_file("dsb2018/img2d.tif").read_bytes()[:2] in (b"II", b"MM")  # a TIFF
    with pytest.raises(FileNotFoundError, match=r"no sample 'dsb2018/nope.tif'.*dsb2018/img2d.tif"):
        sample_file("dsb2018/nope.tif")


def test_sixteen_bit_images_are_scaled_by_the_dataset_white_level_not_their_own_maximum(tmp_path):
    from coursekit.data.io import DatasetError, to_float_image

    dark, bright = np.array([[0, 1000]], np.uint16), np.array([[0, 4000]], np.uint16)
    # the same sensor value gives the same brightness in both images
    assert to_float_image(dark, "dark.tif", white=4095)[0, 1, 0] == pytest.approx(1000 / 4095)
    assert to_float_image(bright, "bright.tif", white=4095)[0, 1, 0] == pytest.approx(4000 / 4095)
    assert to_float_image(dark, "dark.tif")[0, 1, 0] == pytest.approx(1000 / 65535)  # the type's maximum
    with pytest.raises(DatasetError, match=r"bright.tif: holds values up to 4000, above the white level 255"):
        to_float_image(bright, "bright.tif", white=255)


def test_the_dsb_sample_holds_8_bit_values_in_16_bits_and_loads_visible(tmp_path):
    with pytest.warns(DataFallbackWarning):
        data = load_dataset("dsb2018", root=tmp_path)
    assert data.source == "sample" and 0.5 < data.images.max() <= 1.0


# ---------------------------------------------------------------- CamVid

def camvid_frame(root: Path, split: str, name: str, labels, listed: bool = True) -> None:
    labels = np.asarray(labels, np.uint8)
    rgb = np.stack([labels * 20, labels * 10, 255 - labels * 20], axis=-1).astype(np.uint8)
    png(root / "camvid" / split / f"{name}.png", rgb)
    png(root / "camvid" / f"{split}annot" / f"{name}.png", labels)
    if listed:
        with open(root / "camvid" / f"{split}.txt", "a") as listing:
            listing.write(f"/SegNet/CamVid/{split}/{name}.png /SegNet/CamVid/{split}annot/{name}.png\n")


def test_camvid_reads_the_segnet_layout_with_void_as_the_ignore_index(tmp_path):
    labels = np.arange(12 * 8).reshape(8, 12) % 12  # every class, and void (11)
    camvid_frame(tmp_path, "train", "0001TP_000010", labels)
    camvid_frame(tmp_path, "train", "0001TP_000040", labels[::-1])
    data = quiet_load("camvid", root=tmp_path)
    assert len(data) == 2 and data.num_classes == 11 and data.ignore_index == 11
    assert data.names == ["0001TP_000010", "0001TP_000040"]
    image, mask = data[0]
    np.testing.assert_array_equal(mask, labels)
    assert image.shape == (8, 12, 3) and image[0, 1, 2] == pytest.approx((255 - 20) / 255)
    loaded = data.load()
    assert loaded.ignore_index == 11 and loaded.palette.shape == (12, 3)
    assert loaded.palette[3].tolist() == [128, 64, 128]  # road
    drawn = colorize_mask(mask, loaded.palette)  # a mask straight from the files, void included, can be drawn
    assert drawn[mask == 11].tolist() == [[0, 0, 0]] * int((mask == 11).sum())


def test_camvid_resizes_images_smoothly_and_labels_by_nearest(tmp_path):
    labels = np.repeat(np.repeat(np.array([[0, 3], [8, 11]]), 8, axis=0), 8, axis=1)  # 16×16 in four blocks
    camvid_frame(tmp_path, "val", "a", labels)
    image, mask = quiet_load("camvid", root=tmp_path, split="val", size=(8, 4))[0]
    assert image.shape == (8, 4, 3) and mask.shape == (8, 4)
    assert set(np.unique(mask)) == {0, 3, 8, 11} and mask[0, 0] == 0 and mask[-1, -1] == 11


@pytest.mark.parametrize("fault, message", [
    ("label 12", r"0001TP_000010.png: mask holds the value\(s\) 12"),
    ("no annotation", r"0001TP_000040.png: this image has no mask"),
    ("sizes differ", r"the mask is 8×12 but its image"),
    ("list disagrees", r"train.txt and .* disagree: 0001TP_000099 is in one only"),
])
def test_camvid_refuses_bad_files_naming_them(tmp_path, fault, message):
    labels = np.zeros((8, 12), np.uint8)
    camvid_frame(tmp_path, "train", "0001TP_000010", np.where(np.eye(8, 12) > 0, 12, 0) if fault == "label 12"
                 else labels)
    if fault == "no annotation":
        png(tmp_path / "camvid" / "train" / "0001TP_000040.png", np.zeros((8, 12, 3), np.uint8))
        png(tmp_path / "camvid" / "trainannot" / "0001TP_000050.png", labels)
    if fault == "sizes differ":
        png(tmp_path / "camvid" / "train" / "0001TP_000010.png", np.zeros((9, 12, 3), np.uint8))
    if fault == "list disagrees":
        with open(tmp_path / "camvid" / "train.txt", "a") as listing:
            listing.write("/SegNet/CamVid/train/0001TP_000099.png /SegNet/CamVid/trainannot/0001TP_000099.png\n")
    with pytest.raises(DatasetError, match=message):
        quiet_load("camvid", root=tmp_path)[0]


def test_camvid_falls_back_to_shapes_saying_so(tmp_path):
    with pytest.warns(DataFallbackWarning, match="camvid: no train split"):
        data = load_dataset("camvid", root=tmp_path, size=(64, 96), n=2)
    assert data.source == "synthetic" and data.images.shape == (2, 64, 64, 3)


def test_the_shared_camvid_has_the_segnet_split():
    if not (SHARED / "camvid" / "train.txt").is_file():
        pytest.skip("../shared/data/camvid is not present")
    sizes = {split: len(quiet_load("camvid", root=SHARED, split=split)) for split in ("train", "val", "test")}
    assert sizes == {"train": 367, "val": 101, "test": 233}
    image, mask = quiet_load("camvid", root=SHARED, split="test")[0]
    assert image.shape == (120, 160, 3) and mask.max() <= 11 and (mask == 3).mean() > 0.1  # road is common


def test_the_data_modules_need_nothing_of_the_pictures():
    """Datasets carry a palette (coursekit.colours) but import nothing of coursekit.viz."""
    import os
    import subprocess
    import sys

    from conftest import ROOT

    code = "import sys, coursekit.data; print(sorted(m for m in sys.modules if m.startswith('coursekit.viz')))"
    loaded = subprocess.check_output([sys.executable, "-c", code], text=True,
                                     env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
    assert loaded.strip() == "[]", f"importing coursekit.data imported {loaded.strip()}"
    from coursekit import colours, viz
    from coursekit.data import shapes

    assert viz.palette is colours.palette, "chapters call viz.palette"
    data = shapes(2, size=16)
    np.testing.assert_array_equal(data.palette, colours.palette(len(data.classes)))
    assert tuple(data.palette[0]) == (0, 0, 0) and len({tuple(c) for c in data.palette}) == len(data.classes)
