"""Every notebook's execution time, per framework, with the peak memory of its kernel.

Each notebook runs top to bottom in a fresh kernel, in its own folder (as
nbval and Jupyter Book run it), under ``COURSEKIT_FRAMEWORK`` and
``COURSEKIT_PROFILE``.  A last cell, added here and never saved, reports the
kernel's peak resident memory and, on a GPU, the peak of torch's and
TensorFlow's allocators (their sum: both may hold memory at once).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from .worker import ROOT

PEAK = "BENCHMARK-PEAK "
PROBE = f'''\
import json as _json, resource as _resource, sys as _sys
_unit = 2**20 if _sys.platform == "darwin" else 2**10  # ru_maxrss counts bytes on macOS, KiB on Linux
_gpu = []
if "torch" in _sys.modules and _sys.modules["torch"].cuda.is_available():
    _gpu.append(_sys.modules["torch"].cuda.max_memory_allocated())
if "tensorflow" in _sys.modules and _sys.modules["tensorflow"].config.list_physical_devices("GPU"):
    _gpu.append(_sys.modules["tensorflow"].config.experimental.get_memory_info("GPU:0")["peak"])
print("{PEAK}" + _json.dumps({{"peak_rss_mb": _resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss / _unit,
                              "peak_gpu_mb": sum(_gpu) / 2**20 if _gpu else None}}))
'''


def all_notebooks() -> list[Path]:
    """The chapters and the executed appendix pages, as tests/test_notebooks.py finds them."""
    return sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "book").glob("*.ipynb"))


def _peaks(notebook) -> dict:
    for output in notebook.cells[-1].get("outputs", []):
        for line in output.get("text", "").splitlines():
            if line.startswith(PEAK):
                return json.loads(line[len(PEAK):])
    return {"peak_rss_mb": None, "peak_gpu_mb": None}


def execute(path: Path, framework: str, profile: str, timeout: float, keep: Path | None = None) -> dict:
    """Run one notebook; its seconds include the kernel's start, as a reader's "run all" does.

    With ``keep``, the executed notebook (outputs included) is written there as
    ``<name>-<framework>.ipynb``, to read what the timed run printed and drew.
    """
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(PROBE))
    client = NotebookClient(notebook, timeout=timeout, resources={"metadata": {"path": str(path.parent)}})
    environment = dict(os.environ, COURSEKIT_FRAMEWORK=framework, COURSEKIT_PROFILE=profile)
    status = "ok"
    start = time.perf_counter()
    try:
        client.execute(env=environment)
    except CellTimeoutError:
        status = f"error: a cell ran past {timeout:.0f} s"
    except (CellExecutionError, DeadKernelError) as err:
        status = f"error: {getattr(err, 'ename', type(err).__name__)}: {getattr(err, 'evalue', err)}"[:300]
    seconds = time.perf_counter() - start
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, keep / f"{path.stem}-{framework}.ipynb")
    name = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
    return {"notebook": name, "framework": framework, "profile": profile, "seconds": seconds, "status": status,
            **_peaks(notebook)}


def run(options, device: str) -> dict:
    """The section: one row per notebook and framework, in the run's profile."""
    rows = []
    for framework in options.frameworks:
        for path in options.notebooks:
            row = execute(Path(path).resolve(), framework, options.profile, options.timeout,
                          getattr(options, "keep_executed", None))
            print(f"notebooks: {row['notebook']} {framework}: {row['status']}, {row['seconds']:.0f} s",
                  file=sys.stderr, flush=True)
            rows.append(row)
    return {"status": "measured", "device": device, "profile": options.profile, "rows": rows}
