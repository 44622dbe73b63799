"""Downloading the course's datasets from login-free public mirrors, checked by SHA-256.

Taught in chapter 5 (Medical image data).  ``download(name, root)`` fetches the files
of one dataset into ``<root>/<name>/`` in the layout that ``load_dataset`` reads.  The
fetching is pooch's (the library SciPy and scikit-image fetch their data with): it streams
each file to a temporary file beside its destination and renames it into place only after
its digest matched, retries, and shows progress.  What is the course's own stays here:
which files make a dataset and their digests, what to say for the datasets behind a
registration, and a check of archive entries before they are unpacked into a staging
folder that is moved into place at the end.  A ``.coursekit-download.json`` file records
what came from where, and ``load_dataset`` reports such data with ``source="download"``.

Datasets that need a registration or a login (DRIVE, Kaggle's) are not downloaded: asking
for them raises :class:`RegistrationRequired` with instructions to fetch them by hand.

``COURSEKIT_DOWNLOAD_MIRROR`` replaces every public source by one base URL, under which
each file is found at ``<base>/<name>/<path>``: the layout of a data folder, so that
``file:///path/to/data`` turns a copy of the data on this machine into the mirror (the smoke
run of the full profile downloads so, without network).  The files are checked against the
same digests as the originals.

What could be verified from here (the machine that wrote this has no internet): the SHA-256
of the ISBI 2012 PNG export were computed from a copy of exactly those files (the course's
developer data, whose README names ``zhixuhao/unet`` as its origin), but the URLs were not
fetched.  The StarDist DSB 2018 subset has no known checksum; the Decathlon liver archive
has only the MD5 that MONAI's ``DecathlonDataset`` publishes.  Entries without a SHA-256
are marked ``verified=False`` below.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
import warnings
import zipfile
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse
from urllib.request import url2pathname

from tqdm import TqdmWarning

with warnings.catch_warnings():
    # In a kernel without ipywidgets (as the book's build runs) tqdm.auto, which pooch imports too, warns
    # that it falls back to its text bar; the warning would sit in every chapter's output.
    warnings.simplefilter("ignore", TqdmWarning)
    import pooch
    from tqdm.auto import tqdm


DATA_ENV = "COURSEKIT_DATA"
MIRROR_ENV = "COURSEKIT_DOWNLOAD_MIRROR"
MARKER = ".coursekit-download.json"
_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download failed; the message says why and what to do instead."""


class ChecksumError(DownloadError):
    """A downloaded file is not the one the registry promises (its partial copy is deleted)."""


class RegistrationRequired(DownloadError):
    """The dataset's owners hand it out only after a registration or a login."""


def data_root(root=None) -> Path:
    """Where datasets live: ``root`` if given, else ``$COURSEKIT_DATA``, else ``~/.coursekit/data``."""
    if root is not None:
        return Path(root).expanduser()
    return Path(os.environ.get(DATA_ENV) or Path.home() / ".coursekit" / "data").expanduser()


@dataclass(frozen=True)
class RemoteFile:
    """One file of a mirror: where it is, where it goes under ``<root>/<name>/``, and its digest."""

    url: str
    path: str
    sha256: str | None = None
    md5: str | None = None  # only where no SHA-256 is published; weaker, but better than nothing
    archive: bool = False   # unpack into the dataset folder, then delete the archive


@dataclass(frozen=True)
class Mirror:
    """A login-free source of one dataset."""

    files: tuple[RemoteFile, ...]
    description: str
    terms: str
    size: str
    verified: bool  # True only where every file has a SHA-256 checked against a known copy


@dataclass(frozen=True)
class ByHand:
    """A dataset behind a registration or a login: how to get it and where to put it."""

    instructions: str
    layout: str = field(default="")


# The ISBI 2012 training set as 30 + 30 PNG files, kept in the public repository of a popular
# Keras U-Net (zhixuhao/unet), pinned to a commit so that the bytes cannot change under the
# checksums.  The hashes were computed from the developers' copy of these files; the URLs were
# not fetched from here.
_ISBI_COMMIT = "909ae9b5fefd8a55900e24a771b073b1d4ef70ff"
_ISBI_BASE = f"https://raw.githubusercontent.com/zhixuhao/unet/{_ISBI_COMMIT}/data/membrane/train"
_ISBI_SHA256 = {
    "image/0.png": "12c0ed6f42fc09f512abf6b354f217c950e4c8223b57a0315449b62a14556523",
    "image/1.png": "2cfc7ee635a6f85d5faf5c82a71d3a37bf5af4784b554964e3e07193e3ee2166",
    "image/2.png": "fe60d8d4f93102666a23a18d718b4b59fab8e616987d11c5072f4a87fac7301f",
    "image/3.png": "636d16cbb02f99dda4c9fb6db98dfba066142afa981ffdcfaf54453982e8250c",
    "image/4.png": "991fb3a8e4abc73da1d6159ca28fa4397f0a8351f30a8ba3669c86414d2ce239",
    "image/5.png": "7e9d9fb787664336d6f2cd68b23986f04527e7f8f494410983b4d70c6de1de3b",
    "image/6.png": "7c0a87933ffc72f4ff02f5996d9c3f69fe9a0b5277507415743ad8afb5e5d308",
    "image/7.png": "19f2c25716107d41008c83ba8a814ae47a090e00dea766dde38dce1f00899270",
    "image/8.png": "a8979e4abd1a10af9ca75e614d97875659adbd8ee3a68eba483bf556cfe3023d",
    "image/9.png": "730ebf435ab0f6e625d342552ad03736799fd660d0c6af744674c61a46aa082a",
    "image/10.png": "7c3717bcd48c4b7e5c878d7f0b809b8687a4e6fac471f3863de320a82ee72b8a",
    "image/11.png": "dd7857b25ca1417f87c282750e22c50947f75e81fa032d4e0c96b902c9dc9757",
    "image/12.png": "9f8eff9239bb764d51524a998387a7babcff9f62161804651b030b81aabd5ab8",
    "image/13.png": "377e5cdbcd7f0ac7336f482fc7ead7446887863f26769b3841fe98aadca77dad",
    "image/14.png": "f50d2d77acd2df564c5f0f40b1b24cd929f5944460aa4cd90c422cb5cef33a59",
    "image/15.png": "3e13fdea09accc14f46fb2f3ffa1e882cdd9c53b28a6842c4c10229692c7d1a4",
    "image/16.png": "ffc951c12450f94129582c16fd0d4b165c4a31469b0c42d966f07c183d3132e2",
    "image/17.png": "0f4f7e8e0619e4c7d517ac68d3789a3b6248253747717eac418bb7d32bef4de3",
    "image/18.png": "1bb1edd50595861743d14e1955dfa5d3c9395fb87563eca6dc81433bf9df49de",
    "image/19.png": "999b55633f8d7082add72082656e9532c5c3d97203b376eb317f09ba88a5a5b7",
    "image/20.png": "9153d14bfd15955fab576ea23281c4f23104b45dceed6e03e0b254607f50a1b2",
    "image/21.png": "9ad07cf4f67984f17a08aa63e6d92d395ce55f5132e6ff4fa6d95d6890ea7f97",
    "image/22.png": "6278609b4c42a7cb43212de0e2e2ceded758bafe0856fb56214ce658a61668e4",
    "image/23.png": "9ef4e9fbc838b9791af83a36918d729a0ea2e90ebc71c4a3c4554059f9379756",
    "image/24.png": "f0f917b9c3e9c96d16ea287aff9b05ecf4de88bc61d478e4aefcb64932fba70c",
    "image/25.png": "e0154737e76392e8bf94fb2c0dfa5ddad4b53aeec942a0a8cdd8ba63443e6072",
    "image/26.png": "d0ff11e09b0ee0c817334946e746a38ab621161d5f9c46af95c68b851f8d9a1a",
    "image/27.png": "eed8e8bee1db8fe7af39b5b43ecf14282c5c33eca0959726eea06f662027eacc",
    "image/28.png": "974df4b51e8905bdaabe61e80496cbf331f5c9aa9ddc2cb94113f58c2b7d2837",
    "image/29.png": "d9ae868509c610a69acbf3d69cde4f36a8e344cbbc444f93c917bf7b9f3e784f",
    "label/0.png": "13b67edd7607a1f284c09170c96a27d38422b0ffaf88024ea5b689acb5e1b4b0",
    "label/1.png": "cff60a00de2901e67165c91d7708d784e4c5bcc9d1c8c677922c905d63bbc3d1",
    "label/2.png": "a578af998c017f56763b81941c4dc612dde5731809b2cea0e8ebc37aecb84dbb",
    "label/3.png": "c8ae3b843fed02e09411a24c10850160922c331041b17c2674025f05a99b8834",
    "label/4.png": "a2f19c01b5d982a97923a0d29e64127a05e3f496731480ac9d9d302b5427f7ff",
    "label/5.png": "2dd5779118f6f4d87f88ec112f1cea20663b50acb8c748b0db1f23eda82b5118",
    "label/6.png": "2b0984e9f31fb41d4c5f4a754a3e080036b7321a0cbd9591a62010d20a574ce7",
    "label/7.png": "2ebc8c835999589bfd7d80d81f83d24e5c41138362b0faafef0f009e1ce82144",
    "label/8.png": "db979010ca4fbdb38c8b32d455aed0da90d598153f2a0046b63d02a6efa32b9e",
    "label/9.png": "8ee6c79adbb740595c4d61776e065e7164c00d52c7dd7562b5279041e7f3567b",
    "label/10.png": "b0156cc8186b0ee521927ac95645b406a42d27564607a6fea3a59c34add78f7c",
    "label/11.png": "e47b3aa0cfb3106476af1666e631d45bd16dbf2aff88260ee65d16e4134332db",
    "label/12.png": "85a7a899c0b72b81633ad122887ba5161d650385d7775a5b3074eb00131b3620",
    "label/13.png": "88549c22fd647312d6b37e17d33e90800d347d60ccb1156a8dde5e67394f9f3d",
    "label/14.png": "bcd775017eb4fdbdfe7ad6cc6420b2f16aa9d0576894d08370edcf564b46680a",
    "label/15.png": "59a854887b504ff00a5b4b93b2299bbc0bf0cbe54dea58d2b31969229b28b369",
    "label/16.png": "b34eb88cdc3313a6f4190f5753465df7f69d8f3c243a5c25427b1b99ecfe2499",
    "label/17.png": "4fa076cbeb744803d987dc46cf308dc3026408e7a5188838e30e25fe3ea67dbe",
    "label/18.png": "bd009dda57f204804732f592ed1d41ba18961d83c492413fe71548efa4a288d9",
    "label/19.png": "bf38407c55b6033c1677230228ecb100a11294aa74a7b92e5edfdc4abadcfef9",
    "label/20.png": "7af7296f2e892866669d4e4f9c0d4178987e6ec6e7d0751ec238d1bbe2da9c55",
    "label/21.png": "772c722acb2eac01769b53fa5037a3d62745e53102398bf9b2202df605cadda4",
    "label/22.png": "b19f5533ec24077a2395a085fe53af75dd350ef03798c4ff40ba9ebecb2ee0ad",
    "label/23.png": "2d8f1df5c9ee83e59eb2d709eb153b0570f12e726690f586154b01b0a88bb540",
    "label/24.png": "6ab02d922b5c937ecfe2a479be87a5d3e5ef950dc48da09d31f37b47d899ca9c",
    "label/25.png": "c5ea59aca7789dd507ac31c4a82bbd4c172f9e3544f8e040442c20d1dfa9e16d",
    "label/26.png": "b056fae9f358111b6c9e2494bdba645f206be581959b8d3763e97d62a65dd961",
    "label/27.png": "5be3823a57c82b632cead6eb09f438c6010a244dc0975f2a3e466f45d2c06840",
    "label/28.png": "c0b0e2a2b7aad46919d1afc980f7d5e39101fb07948ce65d9cac802d8b47682e",
    "label/29.png": "1e8839a97178914171defd6a97158f06fcac1fc3f0d45f2acdff9c49ab3fced9",
}


def _listed_files(listing: str) -> tuple[RemoteFile, ...]:
    """The files of a registry listing shipped with coursekit (``registry/<name>.txt``).

    Its header gives the URL of each file as ``# URL of each: <base>/<path>``; every other
    line is ``sha256  bytes  path``.
    """
    lines = (Path(__file__).parent / "registry" / listing).read_text().splitlines()
    base = next(line.split(": ", 1)[1] for line in lines if line.startswith("# URL of each:"))
    base = base.removesuffix("/<path>")
    rows = (line.split() for line in lines if line.strip() and not line.startswith("#"))
    return tuple(RemoteFile(f"{base}/{path}", path, sha256) for sha256, _, path in rows)


REGISTRY: dict[str, Mirror | ByHand] = {
    "camvid": Mirror(
        # Pinned to a commit of the SegNet authors' tutorial repository; the digests were computed
        # from the developers' copy of exactly those files (registry/camvid.txt).
        files=_listed_files("camvid.txt"),
        description="CamVid as SegNet used it, at full resolution (480×360): 367 / 101 / 233 frames in "
                    "{train,val,test}/ with labels in {train,val,test}annot/ and the split lists",
        terms="provided by its authors for research and teaching; cite Brostow, Fauqueur and Cipolla 2009 and "
              "Brostow et al. 2008, and Badrinarayanan, Kendall and Cipolla 2017 for the 11-class split",
        size="187 MB in 1,405 files",
        verified=True,
    ),
    "isbi2012": Mirror(
        files=tuple(RemoteFile(f"{_ISBI_BASE}/{path}", f"train/{path}", sha256)
                    for path, sha256 in _ISBI_SHA256.items()),
        description="ISBI 2012 EM segmentation challenge, training set as PNG (train/image, train/label)",
        terms="free for generating or testing non-commercial segmentation software; cite Cardona et al. 2010 "
              "and Arganda-Carreras et al. 2015",
        size="6.4 MB",
        verified=True,
    ),
    "dsb2018": Mirror(
        # NOT VERIFIED FROM HERE: neither the URL nor a checksum (none is published).
        files=(RemoteFile("https://github.com/stardist/stardist/releases/download/0.1.0/dsb2018.zip",
                          "dsb2018.zip", archive=True),),
        description="the DSB 2018 subset published with StarDist: {train,test}/{images,masks}/*.tif, "
                    "grey images with instance labels",
        terms="BBBC038 (Caicedo et al. 2019) is CC0; cite it and Schmidt et al. 2018 (StarDist)",
        size="about 40 MB",
        verified=False,
    ),
    "liver": Mirror(
        # NOT VERIFIED FROM HERE: MONAI's mirror of the Medical Segmentation Decathlon; the MD5 is
        # the one MONAI's DecathlonDataset publishes, no SHA-256 is known.
        files=(RemoteFile("https://msd-for-monai.s3-us-west-2.amazonaws.com/Task03_Liver.tar",
                          "Task03_Liver.tar", md5="a90ec6c4aa7f6a3d087205e23d4e6397", archive=True),),
        description="Medical Segmentation Decathlon Task03_Liver: imagesTr/*.nii.gz, labelsTr/*.nii.gz",
        terms="CC BY-SA 4.0; cite Antonelli et al. 2022 and Bilic et al. 2023 (LiTS)",
        size="about 27 GB",
        verified=False,
    ),
    "drive": ByHand(
        "DRIVE is handed out after a free registration at https://drive.grand-challenge.org/ . "
        "Download DRIVE.zip there and unzip it",
        "<root>/drive/training/images/21_training.tif, training/1st_manual/21_manual1.gif, "
        "training/mask/21_training_mask.gif, and test/ likewise",
    ),
    "dsb2018-kaggle": ByHand(
        "The full DSB 2018 set is on Kaggle, which needs an account and accepting the competition's rules: "
        "install the kaggle client (pip install kaggle), put your API token in ~/.kaggle/kaggle.json, run "
        "'kaggle competitions download -c data-science-bowl-2018' and unzip stage1_train.zip into stage1_train/ "
        "(download('dsb2018') fetches StarDist's login-free subset instead)",
        "<root>/dsb2018/stage1_train/<id>/images/<id>.png with <root>/dsb2018/stage1_train/<id>/masks/*.png",
    ),
    "lung": ByHand(
        "The 2-D lung CT set ('Finding and Measuring Lungs in CT Data') is on Kaggle, which needs an account: "
        "install the kaggle client (pip install kaggle), put your API token in ~/.kaggle/kaggle.json, run "
        "'kaggle datasets download -d kmader/finding-lungs-in-ct-data' and unzip it",
        "<root>/lung/2d_images/*.tif with <root>/lung/2d_masks/*.tif of the same names",
    ),
    "corneal": ByHand(
        "coursekit knows no public source of corneal-nerve images with stated terms of use; put images you "
        "may use in this layout",
        "<root>/corneal/NNNNN.png with <root>/corneal/NNNNN_mask.png (or in train/ and test/ subfolders)",
    ),
    "esophagus": ByHand(
        "coursekit knows no login-free source of esophagus images: SegTHOR (Lambert et al. 2020) gives CT "
        "scans with esophagus labels after you sign its data usage agreement on its CodaLab page; write "
        "their axial slices and masks as 8-bit PNG pairs",
        "<root>/esophagus/NNNNN.png with <root>/esophagus/NNNNN_mask.png (or in train/ and test/ subfolders)",
    ),
}


def download(name: str, root=None, *, allow_unverified: bool = False, timeout: float = 60,
             progress: bool = True, retries: int = 2) -> Path:
    """Fetch dataset ``name`` into ``<root>/<name>/`` and return that folder.

    Files already there with the right checksum are kept.  Raises :class:`RegistrationRequired`
    (with instructions) for datasets behind a login, :class:`ChecksumError` when a file is not the
    one expected, and :class:`DownloadError` when the mirror cannot be reached (after ``retries``
    more tries).  A file without a published checksum is fetched only with ``allow_unverified=True``;
    its SHA-256 is then recorded in ``.coursekit-download.json`` so that a later copy is compared with it.
    """
    key = name.lower()
    entry = REGISTRY.get(key)
    if entry is None:
        raise DownloadError(f"no download is known for {name!r}; known: {', '.join(sorted(REGISTRY))}")
    if isinstance(entry, ByHand):
        where = entry.layout.replace("<root>", str(data_root(root)))
        raise RegistrationRequired(f"{key}: {entry.instructions}, so that the files are at {where}.")
    unchecked = [f.url for f in entry.files if not (f.sha256 or f.md5)]
    if unchecked and not allow_unverified:
        raise DownloadError(f"{key}: coursekit has no checksum for {', '.join(unchecked)}, so it cannot tell a "
                            f"damaged or altered file from the real one; call download({key!r}, "
                            "allow_unverified=True) to fetch it anyway")
    target = data_root(root) / key
    record = _read_marker(target)
    files = _from_mirror(key, entry.files)
    store = pooch.create(path=target, base_url="", retry_if_failed=retries,
                         registry={f.path: _known_hash(f, record) for f in files},
                         urls={f.path: f.url for f in files})
    with _quiet_pooch():
        for remote in tqdm(files, desc=key, unit="file", disable=not progress, leave=False):
            if remote.archive and record.get(remote.path, {}).get("url") == remote.url:
                continue  # unpacked before; the archive itself was deleted then
            try:
                fetched = _fetch(store, remote, timeout, progress)
            except DownloadError:
                _remove_empty_folders(target)  # load_dataset would take them for a broken copy of the data
                raise
            if fetched != record.get(remote.path):
                record[remote.path] = fetched
                _write_marker(target, key, record)
    return target


def mirror_base() -> str | None:
    """The base URL of ``$COURSEKIT_DOWNLOAD_MIRROR`` (https://, http:// or file://), or None when it is unset."""
    base = os.environ.get(MIRROR_ENV, "").strip()
    if not base:
        return None
    if not base.startswith(("https://", "http://", "file:/")):
        raise DownloadError(f"environment variable {MIRROR_ENV} is {base!r}; expected a base URL such as "
                            "https://example.org/data or file:///path/to/a/data/folder")
    return base.rstrip("/")


def _from_mirror(key: str, files: tuple[RemoteFile, ...]) -> tuple[RemoteFile, ...]:
    """``files`` as ``$COURSEKIT_DOWNLOAD_MIRROR`` serves them (``<base>/<name>/<path>``); unchanged without it."""
    base = mirror_base()
    if base is None:
        return files
    return tuple(replace(f, url=f"{base}/{key}/{f.path}") for f in files)


def _remove_empty_folders(target: Path) -> None:
    for folder in sorted((p for p in target.rglob("*") if p.is_dir()), reverse=True):  # the deepest first
        with suppress(OSError):
            folder.rmdir()


def _known_hash(remote: RemoteFile, record: dict) -> str | None:
    """The digest in pooch's ``algorithm:hex`` form; for an unverified file, what it was when first fetched."""
    if remote.sha256:
        return f"sha256:{remote.sha256}"
    if remote.md5:
        return f"md5:{remote.md5}"
    return record.get(remote.path, {}).get("hash")


def _downloader(timeout: float, progress: bool):
    """The one place that touches the network (tests replace it)."""
    return pooch.HTTPDownloader(progressbar=progress, timeout=timeout, chunk_size=_CHUNK,
                                headers={"User-Agent": "coursekit"})


def _copy_local(url: str, output_file, store=None, check_only: bool = False):
    """A pooch downloader for ``file://`` URLs: copy the file (pooch then checks its digest as for any download)."""
    source = Path(url2pathname(urlparse(url).path))
    if check_only:
        return source.is_file()
    if not source.is_file():
        raise FileNotFoundError(f"{source} is not on the mirror ({url})")
    if hasattr(output_file, "write"):
        with open(source, "rb") as data:
            shutil.copyfileobj(data, output_file, _CHUNK)
    else:
        shutil.copyfile(source, output_file)


def _fetch(store, remote: RemoteFile, timeout: float, progress: bool) -> dict:
    """Let pooch fetch and check one file (and unpack it if it is an archive); return its record."""
    dest = store.abspath / remote.path
    # only archives are big enough for a byte count to help; the other files count in download's bar
    if remote.url.startswith("file:"):
        downloader = _copy_local
    else:
        downloader = _downloader(timeout, progress and remote.archive)
    try:
        store.fetch(remote.path, downloader=downloader)
    except ValueError as error:  # with the registry built above, pooch raises it only for a digest mismatch
        raise ChecksumError(f"{remote.url}: {error} Nothing was written to {dest}. Try again later, or fetch it "
                            "by hand and check it") from error
    except OSError as error:  # requests' errors are OSErrors too
        response = getattr(error, "response", None)
        if response is not None:
            raise DownloadError(f"{remote.url} answered HTTP {response.status_code} ({response.reason}): the mirror "
                                f"may have moved; fetch the file by hand and put it at {dest}") from error
        raise DownloadError(f"could not download {remote.url} ({error}). Are you offline? Connect and try again, "
                            f"or fetch the file on another machine and put it at {dest}; without either, "
                            "load_dataset falls back to the sample shipped with coursekit or to a synthetic "
                            "stand-in") from error
    digest = _known_hash(remote, {}) or f"sha256:{pooch.file_hash(str(dest))}"
    if remote.archive:
        try:
            _unpack(dest, store.abspath)
        finally:
            dest.unlink(missing_ok=True)  # the unpacked files are what is kept, not a second copy in the archive
    return {"url": remote.url, "hash": digest, "verified": bool(remote.sha256 or remote.md5)}


@contextmanager
def _quiet_pooch():
    """pooch logs a line per file; for ISBI's 60 files the progress bar says enough."""
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")
    try:
        yield
    finally:
        logger.setLevel(level)


# ---------------------------------------------------------------- archives

def _unpack(archive: Path, target: Path) -> None:
    """Unpack with pooch into a staging folder, then move each top-level entry into ``target``."""
    unpacker = _checked_unpacker(archive)
    staging = Path(tempfile.mkdtemp(dir=target, prefix=".unpack-"))
    try:
        unpacker(extract_dir=str(staging))(str(archive), "download", None)
        for entry in sorted(staging.iterdir()):
            dest = target / entry.name
            if dest.exists():
                raise DownloadError(f"{dest} already exists; move it away and download again")
            os.replace(entry, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _checked_unpacker(archive: Path):
    """pooch's unpacker for ``archive``, once no entry can land outside the staging folder.

    pooch unpacks zip entries as Python does, which silently drops a leading '..', and tar entries
    without Python's 'data' filter below Python 3.12, which would follow '..' and links out of
    the folder: a hostile or broken archive is refused here instead.
    """
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            entries, unpacker = [(name, True) for name in bundle.namelist()], pooch.Unzip
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as bundle:
            entries, unpacker = [(m.name, m.isfile() or m.isdir()) for m in bundle.getmembers()], pooch.Untar
    else:
        raise DownloadError(f"{archive}: not a zip or tar archive")
    for name, plain in entries:
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if not parts or name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
            raise DownloadError(f"{archive}: refusing to unpack the entry {name!r}, whose path leaves the "
                                "dataset folder")
        if not plain:
            raise DownloadError(f"{archive}: refusing to unpack {name!r}, which is a link or a device")
    return unpacker


# ---------------------------------------------------------------- the record

def _read_marker(target: Path) -> dict:
    marker = target / MARKER
    if not marker.is_file():
        return {}
    try:
        return json.loads(marker.read_text()).get("files", {})
    except (OSError, ValueError):
        return {}  # a damaged record only costs a fresh check of every file


def _write_marker(target: Path, name: str, files: dict) -> None:
    target.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=target, prefix=".marker-", suffix=".part")
    with os.fdopen(handle, "w") as out:
        json.dump({"dataset": name, "files": files}, out, indent=1)
    os.replace(partial, target / MARKER)
