"""coursekit.data.volumes: CT windows, NIfTI writing with HU scaling, the brain template or its phantom,
the CT phantom, resampling, axial slices as load_dataset shows them, and splits by patient."""

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from coursekit.data import DataFallbackWarning, DatasetNotFound, io, load_dataset, volumes

SHARED = Path(os.environ.get("COURSEKIT_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
MNI = SHARED / "mni152"


# ---------------------------------------------------------------- windows

def test_window_bounds_and_named_windows():
    assert volumes.window_bounds(50, 300) == (-100, 200) == volumes.WINDOWS["abdomen"]
    assert volumes.window_bounds(40, 80) == volumes.BRAIN_WINDOW
    with pytest.raises(ValueError, match="positive"):
        volumes.window_bounds(0, 0)


def test_apply_window_clips_and_is_linear():
    hu = np.array([-1000.0, -100.0, 50.0, 200.0, 1000.0])
    assert np.allclose(volumes.apply_window(hu, "abdomen"), [0, 0, 0.5, 1, 1])
    assert volumes.apply_window(hu.reshape(1, 5, 1), (-1000, 1000)).shape == (1, 5, 1)
    assert volumes.apply_window(hu, "lung").dtype == np.float32
    with pytest.raises(ValueError, match="low < high"):
        volumes.apply_window(hu, (10, 10))


# ---------------------------------------------------------------- NIfTI

def test_write_nifti_with_hu_scaling_round_trips_through_read_volume(tmp_path):
    hu = np.array([[[-1000.0, -100.0], [40.0, 900.0]]] * 3)
    path = volumes.write_nifti(tmp_path / "ct.nii.gz", hu, (0.7, 0.8, 2.5), dtype=np.uint16, intercept=-1024)
    import nibabel

    stored = nibabel.load(path)
    assert stored.get_data_dtype() == np.uint16
    assert np.asarray(stored.dataobj.get_unscaled()).min() == 24  # air is stored as -1000 + 1024
    assert np.allclose(io.read_volume(path), hu)
    assert volumes.nifti_spacing(path) == pytest.approx((0.7, 0.8, 2.5))
    with pytest.raises(ValueError, match="do not fit"):
        volumes.write_nifti(tmp_path / "bad.nii.gz", hu, (1, 1, 1), dtype=np.uint8, intercept=-1024)
    with pytest.raises(io.DatasetError, match="no such file"):
        volumes.nifti_spacing(tmp_path / "missing.nii.gz")


def test_axial_slices_match_what_load_dataset_reads_from_a_written_volume(tmp_path):
    ct = volumes.ct_phantom(shape=(24, 20, 6), spacing=(16.0, 16.0, 35.0), seed=3)
    volumes.write_nifti(tmp_path / "liver" / "imagesTr" / "p.nii.gz", ct.hu, ct.spacing, dtype=np.int16)
    volumes.write_nifti(tmp_path / "liver" / "labelsTr" / "p.nii.gz", ct.labels, ct.spacing, dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = load_dataset("liver", root=tmp_path)
    slices, labels = volumes.axial_slices(ct.hu), volumes.axial_slices(ct.labels)
    assert slices.shape == (6, 20, 24) and len(data) == 6
    for z in range(6):
        image, mask = data[z]
        assert np.allclose(image[..., 0], volumes.apply_window(np.round(slices[z]), "abdomen"), atol=1e-6)
        assert np.array_equal(mask, labels[z])
    with pytest.raises(ValueError, match="X×Y×Z"):
        volumes.axial_slices(slices[0])


def test_axial_slices_put_anterior_up_and_the_patients_right_on_the_left():
    volume = np.zeros((4, 3, 2))
    volume[3, 2, 1] = 1  # the patient's right-most, most anterior voxel, upper slice
    shown = volumes.axial_slices(volume)
    assert shown.shape == (2, 3, 4) and shown[1, 0, 0] == 1


# ---------------------------------------------------------------- phantoms and the template

def test_ct_phantom_holds_the_expected_tissues_in_hu():
    ct = volumes.ct_phantom(seed=1)
    assert ct.hu.shape == ct.labels.shape == ct.lungs.shape == (128, 128, 40)
    assert set(np.unique(ct.labels)) == {0, 1, 2}
    assert ct.hu.min() == -1000 and 800 < ct.hu.max() < 1100
    assert 60 < ct.hu[ct.labels == 1].mean() < 120 and 0 < ct.hu[ct.labels == 2].mean() < 60
    assert ct.hu[ct.lungs].mean() < -700 and ct.esophagus.any()
    liver_x = np.nonzero(ct.labels == 1)[0].mean()
    assert liver_x > ct.hu.shape[0] / 2  # RAS+: the liver lies on the patient's right, high x
    assert (ct.labels == 2).mean() < 0.01 < (ct.labels == 1).mean()  # the tumour is a rare class
    other = volumes.ct_phantom(seed=2)
    assert not np.array_equal(ct.labels, other.labels)  # patients differ
    assert np.array_equal(ct.labels, volumes.ct_phantom(seed=1).labels)  # deterministic


def test_brain_phantom_imitates_the_template():
    brain = volumes.brain_phantom(shape=(40, 48, 40), spacing=4.0)
    assert brain.source == "synthetic" and brain.spacing == (4.0, 4.0, 4.0)
    for volume in (brain.t1, brain.gm, brain.wm):
        assert volume.shape == (40, 48, 40) and volume.dtype == np.float32
        assert volume.min() >= 0 and volume.max() <= 1
    labels = brain.labels()
    assert brain.t1[labels == 2].mean() > brain.t1[labels == 1].mean() > brain.t1[labels == 0].mean()
    assert 0.03 < (labels == 1).mean() < 0.3 and 0.03 < (labels == 2).mean() < 0.3
    assert np.array_equal(brain.brain_mask(), (brain.gm + brain.wm) > 0.5)


def test_load_brain_falls_back_to_the_phantom_with_a_warning(tmp_path):
    with pytest.warns(DataFallbackWarning, match="phantom"):
        brain = volumes.load_brain(root=tmp_path, shape=(20, 24, 20), spacing=8.0)
    assert brain.source == "synthetic"
    with pytest.raises(DatasetNotFound, match="nilearn"):
        volumes.load_brain(root=tmp_path, fallback=False)
    assert volumes.load_mni152(tmp_path) is None


def test_load_mni152_reads_files_named_like_nilearns(tmp_path):
    phantom = volumes.brain_phantom(shape=(20, 24, 20), spacing=8.0)
    for key, volume in (("t1", phantom.t1), ("gm", phantom.gm), ("wm", phantom.wm)):
        volumes.write_nifti(tmp_path / "mni152" / f"mni_icbm152_{key}_tal_nlin_sym_09a_converted.nii.gz",
                            np.round(volume * 255), (8.0, 8.0, 8.0), dtype=np.uint8)
    brain = volumes.load_mni152(tmp_path)
    assert brain.source == "disk" and brain.spacing == (8.0, 8.0, 8.0)
    assert np.allclose(brain.gm, phantom.gm, atol=1 / 255)  # uint8 0..255 maps back to probabilities
    (tmp_path / "mni152" / "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz").unlink()
    with pytest.raises(io.DatasetError, match="wm"):
        volumes.load_mni152(tmp_path)


@pytest.mark.skipif(not MNI.is_dir(), reason="the MNI152 template is not in ../shared/data")
def test_the_real_mni152_template():
    brain = volumes.load_mni152(SHARED)
    assert brain.source == "disk" and brain.t1.shape == (197, 233, 189) and brain.spacing == (1.0, 1.0, 1.0)
    labels = brain.labels()
    assert 0.08 < (labels == 1).mean() < 0.2 and 0.04 < (labels == 2).mean() < 0.15
    assert brain.t1[labels == 2].mean() > brain.t1[labels == 1].mean()  # T1: white matter is brighter


# ---------------------------------------------------------------- resampling

def test_resample_reaches_the_spacing_and_keeps_labels_whole():
    labels = np.zeros((30, 30, 12), np.int64)
    labels[5:20, 5:20, 3:9] = 1
    labels[8:12, 8:12, 4:7] = 2
    out, spacing = volumes.resample(labels, (1.0, 1.0, 2.5), 2.0, labels=True)
    assert out.shape == (15, 15, 15) and spacing == pytest.approx((2.0, 2.0, 2.0))
    assert set(np.unique(out)) <= {0, 1, 2}
    image, _ = volumes.resample(labels.astype(np.float32), (1.0, 1.0, 2.5), 2.0)
    assert len(np.unique(image)) > 3  # linear interpolation makes in-between values
    back, _ = volumes.resample(out, spacing, labels=True, shape=labels.shape)
    assert back.shape == labels.shape and (back == labels).mean() > 0.9
    assert volumes.resample(labels > 0, (1.0, 1.0, 2.5), 2.0, labels=True)[0].dtype == bool
    with pytest.raises(ValueError, match="either"):
        volumes.resample(labels, (1, 1, 1))
    with pytest.raises(ValueError, match="spacing per axis"):
        volumes.resample(labels, (1, 1), 2.0)


# ---------------------------------------------------------------- splits

def test_group_split_keeps_each_patient_on_one_side():
    groups = [f"p{i // 5}" for i in range(40)]  # 8 patients, 5 slices each
    train_ids, val_ids = volumes.group_split(groups, val_fraction=0.25, seed=3)
    assert len(train_ids) + len(val_ids) == 40 and not set(train_ids) & set(val_ids)
    assert volumes.leaked_groups(groups, train_ids, val_ids) == []
    assert len({groups[i] for i in val_ids}) == 2
    again = volumes.group_split(groups, val_fraction=0.25, seed=3)
    assert np.array_equal(again[1], val_ids)
    leaky = (np.arange(0, 40, 2), np.arange(1, 40, 2))
    assert volumes.leaked_groups(groups, *leaky) == [f"p{i}" for i in range(8)]
    with pytest.raises(ValueError, match="two groups"):
        volumes.group_split(["a", "a"])
