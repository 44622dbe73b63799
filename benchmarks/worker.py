"""Run one measurement in a fresh Python process, so that its peak memory is its own.

The parent calls :func:`run_in_child`; the child (``python -m benchmarks.worker
TASK SPEC``) runs the task's ``measure(spec)``, adds its own peak resident
memory and prints the result as one JSON line after :data:`MARK`.  A fresh
process per measurement keeps one model's memory from hiding another's, and
keeps torch and TensorFlow out of each other's way.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARK = "BENCHMARK-RESULT "
TASKS = {"train_step": "benchmarks.models", "overhead": "benchmarks.overhead", "precision": "benchmarks.precision",
         "compare": "benchmarks.compare_architectures", "compare_camvid": "benchmarks.compare_camvid",
         "camvid": "benchmarks.segnet_camvid", "camvid_recipe": "benchmarks.camvid_recipe"}


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


def _failure(completed: subprocess.CompletedProcess) -> str:
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    return f"error: {lines[-1].strip() if lines else f'exit status {completed.returncode}'}"[:300]


def run_in_child(task: str, spec: dict, timeout: float) -> dict:
    """``measure(spec)`` of ``task`` in a new process; on failure ``{"status": "error: ..."}``, never an exception.

    A failed measurement is a row of the results, so one model that runs out
    of memory does not lose the numbers of all the others.
    """
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    try:
        completed = subprocess.run([sys.executable, "-m", "benchmarks.worker", task, json.dumps(spec)], cwd=ROOT,
                                   env=environment, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": f"error: timed out after {timeout:.0f} s"}
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    return {"status": _failure(completed)}


def main() -> None:
    task, spec = sys.argv[1], json.loads(sys.argv[2])
    result = importlib.import_module(TASKS[task]).measure(spec)
    result.setdefault("status", "ok")
    result["peak_rss_mb"] = peak_rss_mb()
    print(MARK + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
