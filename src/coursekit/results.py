"""The claims sweep's results, as chapters read them to show how much a result varies.

A chapter trains once, with one seed, in one framework.  Whether what it finds
holds for other seeds and in the other framework is measured by the course's
claims sweep (``python -m benchmarks.claims`` in the repository), which runs
every chapter in the quick profile for seeds 0, 1 and 2 under both frameworks
and writes ``benchmarks/results/claims-<machine>.json``.  :func:`load_claims`
finds that file in the course's checkout (or ``./benchmarks/results``); on
Colab, where coursekit is installed without the repository, it downloads the
committed one.  Chapter 3 is the first to use it.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Sweep", "SweepFileError", "load_claims", "read_claims"]

PREFIX = "claims-"


class SweepFileError(ValueError):
    """A claims file that cannot be read as the sweep writes it; the message names the file."""


@dataclass
class Sweep:
    """One claims file: per chapter, its runs (framework, seed, status, values) and its judged claims."""

    path: Path
    results: dict

    def chapter(self, stem: str) -> dict:
        try:
            return self.results["chapters"][stem]
        except KeyError:
            raise KeyError(f"{self.path.name} has no sweep of chapter {stem!r}; "
                           "run python -m benchmarks.claims --chapters " + stem) from None

    def runs(self, stem: str) -> list[dict]:
        """The chapter's runs, torch before Keras, by seed."""
        return self.chapter(stem)["runs"]

    def values(self, stem: str, name: str) -> list[float | None]:
        """One value over the chapter's runs, in :meth:`runs` order (None where a run did not record it)."""
        found = [run["values"].get(name) for run in self.runs(stem)]
        return [value if isinstance(value, (int, float)) else None for value in found]

    def claim(self, stem: str, text: str) -> dict:
        """A claim of the chapter as judged over its runs: ``differences``, ``min``, ``max``, ``held``, ``runs``."""
        for claim in self.chapter(stem)["claims"]:
            if claim["text"] == text:
                return claim
        known = "; ".join(c["text"] for c in self.chapter(stem)["claims"])
        raise KeyError(f"{self.path.name}: chapter {stem!r} has no claim {text!r}; it has: {known}")

    def describe(self) -> str:
        """Where and when the sweep ran, in one line."""
        machine, versions = self.results.get("machine", {}), self.results.get("versions", {})
        software = ", ".join(f"{k} {versions[k]}" for k in ("torch", "tensorflow") if versions.get(k))
        return (f"claims sweep of {self.results.get('date', '?')[:10]} on {machine.get('cpu', '?')} "
                f"({machine.get('cores', '?')} cores; {software}), quick profile, file {self.path.name}")


def _fail(path: Path, what: str):
    raise SweepFileError(f"{path}: {what}")


def read_claims(path) -> Sweep:
    """Read and check one claims file; a malformed one raises :class:`SweepFileError` naming it."""
    path = Path(path)
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        _fail(path, f"not readable as JSON ({err})")
    if not isinstance(results, dict) or not isinstance(results.get("chapters"), dict):
        _fail(path, "no 'chapters' object: not a file written by python -m benchmarks.claims")
    for stem, entry in results["chapters"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("runs"), list) or "claims" not in entry:
            _fail(path, f"chapter {stem!r} lacks 'runs' or 'claims'")
        for run in entry["runs"]:
            missing = [key for key in ("framework", "seed", "status", "values") if key not in run]
            if missing:
                _fail(path, f"a run of chapter {stem!r} lacks {', '.join(missing)}")
    return Sweep(path, results)


def _newest(paths: list[Path]) -> Path | None:
    from .viz.comparison import _date  # the comparison's reader picks its newest file the same way

    return max(paths, key=_date) if paths else None


def _download() -> Path | None:
    from .viz import comparison

    listing = json.loads(comparison._fetch(comparison.listing_url()))
    names = sorted(item["name"] for item in listing
                   if item.get("name", "").startswith(PREFIX) and item["name"].endswith(".json"))
    folder = comparison.cache_folder()
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    for name in names:
        (folder / name).write_bytes(comparison._fetch(comparison.raw_url(name)))
        saved.append(folder / name)
    return _newest(saved)


def load_claims(*, download: bool | None = None) -> Sweep:
    """The newest claims file of the course checkout (or ``./benchmarks/results``), else the repository's.

    ``download`` (default: only on Colab) allows fetching the committed file.
    Raises ``FileNotFoundError`` saying where it looked and how to make one.
    """
    from .viz import comparison

    if download is None:
        download = "google.colab" in sys.modules
    folders = comparison.search_folders()
    tried = [str(folder) for folder in folders]
    path = _newest([p for folder in folders for p in sorted(folder.glob(f"{PREFIX}*.json"))])
    if path is None and download:
        tried.append(comparison.listing_url())
        try:
            path = _download()
        except (OSError, ValueError) as err:  # offline, or GitHub refused
            tried[-1] += f" ({err})"
    if path is None:
        raise FileNotFoundError(f"no claims sweep ({PREFIX}*.json) in " + "; ".join(tried)
                                + ". Run python -m benchmarks.claims in the course repository to make one.")
    return read_claims(path)
