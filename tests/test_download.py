"""coursekit.data.download: checked downloads, with file:// URLs and a replaced fetcher (never the network)."""

import hashlib
import importlib
import io
import re
import tarfile
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from coursekit.data import (
    ChecksumError,
    DownloadError,
    RegistrationRequired,
    download,
    load_dataset,
)

fetching = importlib.import_module("coursekit.data.download")  # the module, not the function of that name
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any test that reaches for a real URL fails loudly instead of touching the network."""
    real_open = fetching._open_url

    def guarded(url, timeout):
        if not url.startswith("file://"):
            raise AssertionError(f"a test tried to fetch {url}")
        return real_open(url, timeout)

    monkeypatch.setattr(fetching, "_open_url", guarded)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def publish(tmp_path: Path, name: str, data: bytes) -> str:
    """Put bytes on a local 'mirror' and return their file:// URL."""
    path = tmp_path / "mirror" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path.as_uri()


def register(monkeypatch, name: str, *files: fetching.RemoteFile) -> None:
    monkeypatch.setitem(fetching.REGISTRY, name, fetching.Mirror(files, "a test mirror", "none", "1 kB", True))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".part") or p.name.startswith(".unpack"))


def png_bytes(array) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(array, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_download_checks_and_places_the_file(tmp_path, monkeypatch):
    data = b"hello, cells"
    register(monkeypatch, "toy", fetching.RemoteFile(publish(tmp_path, "a.bin", data), "sub/a.bin", sha256(data)))
    folder = download("toy", tmp_path / "data", progress=False)
    assert folder == tmp_path / "data" / "toy"
    assert (folder / "sub" / "a.bin").read_bytes() == data
    assert (folder / fetching.MARKER).is_file() and leftovers(folder) == []


def test_checksum_mismatch_is_an_error_and_leaves_nothing(tmp_path, monkeypatch):
    url = publish(tmp_path, "a.bin", b"tampered")
    register(monkeypatch, "toy", fetching.RemoteFile(url, "a.bin", sha256(b"original")))
    with pytest.raises(ChecksumError, match=r"a\.bin: the downloaded file's SHA256 is .* not "):
        download("toy", tmp_path / "data", progress=False)
    folder = tmp_path / "data" / "toy"
    assert not (folder / "a.bin").exists() and leftovers(folder) == []


def test_md5_is_checked_where_no_sha256_is_known(tmp_path, monkeypatch):
    url = publish(tmp_path, "a.bin", b"tampered")
    register(monkeypatch, "toy", fetching.RemoteFile(url, "a.bin", md5=hashlib.md5(b"original").hexdigest()))
    with pytest.raises(ChecksumError, match="MD5"):
        download("toy", tmp_path / "data", progress=False)


def test_broken_connection_removes_the_partial_file(tmp_path, monkeypatch):
    class Dropping(io.BytesIO):
        def read(self, size=-1):
            if self.tell() > 0:
                raise ConnectionResetError("connection reset by peer")
            return super().read(4)

    monkeypatch.setattr(fetching, "_open_url", lambda url, timeout: Dropping(b"0123456789"))
    register(monkeypatch, "toy", fetching.RemoteFile("https://example.org/a.bin", "a.bin", sha256(b"0123456789")))
    with pytest.raises(DownloadError, match="connection reset"):
        download("toy", tmp_path / "data", progress=False)
    assert list((tmp_path / "data" / "toy").iterdir()) == []


def test_no_network_says_what_to_do(tmp_path, monkeypatch):
    def offline(url, timeout):
        raise urllib.error.URLError(OSError("Network is unreachable"))

    monkeypatch.setattr(fetching, "_open_url", offline)
    with pytest.raises(DownloadError, match=r"Are you offline\?.*put it at .*train/image/0\.png.*shipped"):
        download("isbi2012", tmp_path, progress=False)
    assert not (tmp_path / "isbi2012" / "train" / "image" / "0.png").exists()


def test_missing_mirror_file_is_reported(tmp_path, monkeypatch):
    register(monkeypatch, "toy", fetching.RemoteFile((tmp_path / "gone.bin").as_uri(), "a.bin", "0" * 64))
    with pytest.raises(DownloadError, match=r"gone\.bin"):
        download("toy", tmp_path / "data", progress=False)


@pytest.mark.parametrize("name, hint", [("drive", "grand-challenge"), ("lung", "kaggle datasets download"),
                                        ("dsb2018-kaggle", "kaggle competitions download"),
                                        ("corneal", "no login-free mirror")])
def test_datasets_behind_a_login_raise_instructions(tmp_path, name, hint):
    with pytest.raises(RegistrationRequired, match=hint) as error:
        download(name, tmp_path)
    assert str(tmp_path) in str(error.value)  # says where to put the files


def test_unknown_and_unverified_downloads_are_refused(tmp_path, monkeypatch):
    with pytest.raises(DownloadError, match="no download is known for 'mnist'"):
        download("mnist", tmp_path)
    with pytest.raises(DownloadError, match="allow_unverified=True"):
        download("dsb2018", tmp_path)
    data = b"no checksum published"
    register(monkeypatch, "toy", fetching.RemoteFile(publish(tmp_path, "a.bin", data), "a.bin"))
    folder = download("toy", tmp_path / "data", allow_unverified=True, progress=False)
    assert sha256(data) in (folder / fetching.MARKER).read_text()  # the observed hash is recorded


def test_files_already_there_are_not_fetched_again(tmp_path, monkeypatch):
    data = b"cached"
    register(monkeypatch, "toy", fetching.RemoteFile(publish(tmp_path, "a.bin", data), "a.bin", sha256(data)))
    download("toy", tmp_path / "data", progress=False)
    monkeypatch.setattr(fetching, "_open_url", lambda url, timeout: pytest.fail("fetched twice"))
    download("toy", tmp_path / "data", progress=False)


def test_archives_are_unpacked(tmp_path, monkeypatch):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("inner/readme.txt", "inside")
    data = buffer.getvalue()
    register(monkeypatch, "toy", fetching.RemoteFile(publish(tmp_path, "a.zip", data), "a.zip", sha256(data),
                                                     archive=True))
    folder = download("toy", tmp_path / "data", progress=False)
    assert (folder / "inner" / "readme.txt").read_text() == "inside"
    assert not (folder / "a.zip").exists() and leftovers(folder) == []


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_archive_entries_that_escape_are_refused(tmp_path, monkeypatch, kind):
    buffer = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(buffer, "w") as bundle:
            bundle.writestr("../escaped.txt", "evil")
    else:
        with tarfile.open(fileobj=buffer, mode="w") as bundle:
            info = tarfile.TarInfo("../escaped.txt")
            info.size = 4
            bundle.addfile(info, io.BytesIO(b"evil"))
    data = buffer.getvalue()
    register(monkeypatch, "toy", fetching.RemoteFile(publish(tmp_path, f"a.{kind}", data), f"a.{kind}",
                                                     sha256(data), archive=True))
    with pytest.raises(DownloadError, match="escaped.txt"):
        download("toy", tmp_path / "data", progress=False)
    assert not (tmp_path / "data" / "escaped.txt").exists()
    assert leftovers(tmp_path / "data") == [] and not (tmp_path / "data" / "toy" / f"a.{kind}").exists()


def test_load_dataset_downloads_when_asked(tmp_path, monkeypatch):
    files = []
    for key in range(2):
        image, label = png_bytes(np.full((8, 8), 50 + key)), png_bytes(np.full((8, 8), 255))
        files += [fetching.RemoteFile(publish(tmp_path, f"image{key}.png", image), f"train/image/{key}.png",
                                      sha256(image)),
                  fetching.RemoteFile(publish(tmp_path, f"label{key}.png", label), f"train/label/{key}.png",
                                      sha256(label))]
    register(monkeypatch, "isbi2012", *files)
    data = load_dataset("isbi2012", root=tmp_path / "data", download=True)
    assert data.source == "download" and len(data) == 2 and data.masks.min() == 1
    assert load_dataset("isbi2012", root=tmp_path / "data").source == "download"  # remembered


def test_registry_entries_are_well_formed():
    for name, entry in fetching.REGISTRY.items():
        if isinstance(entry, fetching.ByHand):
            assert entry.instructions and entry.layout.startswith("<root>/")
            continue
        for remote in entry.files:
            assert remote.url.startswith("https://"), name
            assert remote.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", remote.sha256), name
            assert remote.md5 is None or re.fullmatch(r"[0-9a-f]{32}", remote.md5), name
        assert entry.verified == all(remote.sha256 for remote in entry.files), name
    isbi = fetching.REGISTRY["isbi2012"].files
    assert len(isbi) == 60 and len({remote.path for remote in isbi}) == 60


def test_isbi_checksums_match_the_developers_copy():
    if not (SHARED / "isbi2012" / "train" / "label" / "0.png").is_file():
        pytest.skip("../shared/data/isbi2012 is not present")
    readme = (SHARED / "README.md").read_text()
    assert "13b67edd7607a1f284c09170c96a27d38422b0ffaf88024ea5b689acb5e1b4b0  isbi2012/train/label/0.png" in readme
    for remote in fetching.REGISTRY["isbi2012"].files:
        assert sha256((SHARED / "isbi2012" / remote.path).read_bytes()) == remote.sha256, remote.path
