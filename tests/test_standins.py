"""The stand-ins of chapters 5 and 6 are written in the real layouts: the real loaders read them."""

import numpy as np
import pytest
import tifffile

from coursekit.data import load_dataset, standins, volumes


def _load(name, root):
    data = load_dataset(name, root=root, fallback=False)  # the files themselves, never a fallback
    assert data.source == "disk"
    return data


def test_nerve_fibres_are_thin_bright_lines_on_a_dark_background():
    image, mask = standins.nerve_fibres(96, seed=4)
    assert image.shape == mask.shape == (96, 96) and mask.dtype == bool
    assert 0.01 < mask.mean() < 0.2                       # thin: a small share of the pixels
    assert image[mask].mean() > image[~mask].mean() + 0.3  # bright on dark
    np.testing.assert_array_equal(mask, standins.nerve_fibres(96, seed=4)[1])
    assert not np.array_equal(mask, standins.nerve_fibres(96, seed=5)[1])


def test_the_drive_stand_in_has_drives_files_and_its_gif_palette_trap(tmp_path):
    folder = standins.write_drive(tmp_path, numbers=(21, 22))
    assert sorted(p.name for p in (folder / "1st_manual").iterdir()) == ["21_manual1.gif", "22_manual1.gif"]
    from PIL import Image

    with Image.open(folder / "1st_manual" / "21_manual1.gif") as gif:
        assert set(np.unique(np.asarray(gif))) <= {0, 1}  # indices, not grey levels
    drive = _load("drive", tmp_path)
    example = drive.example(0)
    assert len(drive) == 2 and example["image"].shape == (584, 565, 3)
    assert 0 < example["mask"].mean() < 0.5 and 0.5 < example["fov"].mean() < 1


def test_the_ct_slices_and_the_corneal_pairs_load_as_their_datasets(tmp_path):
    phantoms = [volumes.ct_phantom(shape=(64, 64, 24), seed=k) for k in range(2)]
    folders = standins.write_ct_slices(tmp_path, phantoms)
    stored = tifffile.imread(next((folders["lung"] / "2d_images").iterdir()))
    assert stored.dtype == np.int16 and stored.min() < -500  # Hounsfield units, air included
    standins.write_corneal(tmp_path, count=2, size=64)
    for name, count in (("lung", None), ("esophagus", None), ("corneal", 2)):
        data = _load(name, tmp_path)
        assert len(data) >= 1 if count is None else len(data) == count
        image, mask = data[0]
        assert image.min() >= 0 and image.max() <= 1 and set(np.unique(mask)) <= {0, 1}


@pytest.mark.parametrize("every", [1, 4])
def test_fewer_ct_slices_are_written_when_every_is_larger(tmp_path, every):
    phantoms = [volumes.ct_phantom(shape=(48, 48, 24), seed=0)]
    folders = standins.write_ct_slices(tmp_path / str(every), phantoms, every=every)
    written = len(list((folders["lung"] / "2d_images").iterdir()))
    lungs = volumes.axial_slices(phantoms[0].lungs)
    assert written == sum(lungs[z].any() for z in range(0, len(lungs), every))
