"""``python -m benchmarks``: run the sections, print a table per section, write one JSON results file.

    python -m benchmarks                                  # everything (make bench)
    python -m benchmarks --only models --models unet,fcn8s --sizes full
    python -m benchmarks --threads 1 --note "smoke run"   # one thread per process on a shared machine

``--profile`` is the profile the notebooks run in (``auto``: full with a CUDA
GPU, else quick, as ``coursekit.setup`` decides); the models section always
measures both profiles' sizes (``--sizes``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from coursekit.models import names

from . import comma_separated, limit_threads, machine, models, notebooks, overhead, precision, tables, write_results
from .worker import ROOT

SECTIONS = {"models": models.run, "overhead": overhead.run, "precision": precision.run, "notebooks": notebooks.run}
SCHEMA = 1


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", type=comma_separated(list(SECTIONS)), default=list(SECTIONS),
                        help=f"sections to run, comma-separated (default: {','.join(SECTIONS)})")
    parser.add_argument("--profile", choices=["auto", "quick", "full"], default="auto",
                        help="the notebooks' profile (auto: full with a CUDA GPU, else quick)")
    parser.add_argument("--sizes", type=comma_separated(["quick", "full"]), default=["quick", "full"],
                        help="the profiles whose sizes the models section measures")
    parser.add_argument("--models", type=comma_separated(names()), default=names(),
                        help="comma-separated (default: all)")
    parser.add_argument("--frameworks", type=comma_separated(["torch", "keras"]), default=["torch", "keras"],
                        help="comma-separated (default: torch,keras)")
    parser.add_argument("--notebooks", nargs="+", type=Path, default=notebooks.all_notebooks(),
                        help="notebooks to run (default: notebooks/*.ipynb and book/*.ipynb)")
    parser.add_argument("--keep-executed", type=Path, metavar="DIR",
                        help="also write each executed notebook, outputs included, to DIR")
    parser.add_argument("--steps", type=int, help="timed steps per measurement (default: by device and size)")
    parser.add_argument("--warmup", type=int, help="untimed steps before them")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of the overhead and precision")
    parser.add_argument("--overhead-images", type=int, default=128, help="images per epoch of the overhead runs")
    parser.add_argument("--image-size", type=int, help="override every profile image size (smoke tests)")
    parser.add_argument("--width", type=int, help="override every profile width (smoke tests)")
    parser.add_argument("--threads", type=int, help="CPU threads per process (default: the frameworks' own)")
    parser.add_argument("--timeout", type=float, default=3600,
                        help="seconds allowed per measurement (per cell of a notebook)")
    parser.add_argument("--note", default="", help="a remark stored with the results, e.g. that the machine was busy")
    parser.add_argument("--out", type=Path, help="the results file (default: benchmarks/results/<machine>.json)")
    return parser.parse_args(argv)


def _profile(choice: str, described: dict) -> str:
    if choice != "auto":
        return choice
    return "full" if described["gpu"] else "quick"


def main(argv=None) -> dict:
    options = parse(argv)
    if options.threads:
        limit_threads(options.threads)
    described = machine.machine()
    options.profile = _profile(options.profile, described)
    device = "cuda" if described["gpu"] else "cpu"
    results = {"schema": SCHEMA, "date": machine.now(), "machine": described, "versions": machine.versions(),
               "profile": options.profile, "threads": options.threads or "default", "note": options.note,
               "command": machine.command(), "load_average": {"start": machine.load_average()}, "sections": {}}
    start = time.perf_counter()
    for name, run in SECTIONS.items():
        section = run(options, device) if name in options.only else {"status": "not run", "rows": []}
        results["sections"][name] = section
        print(f"## {name}\n\n{tables.section(name, section)}\n", flush=True)
    results["seconds"] = time.perf_counter() - start
    results["load_average"]["end"] = machine.load_average()
    out = options.out or ROOT / "benchmarks" / "results" / f"{described['tag']}.json"
    write_results(results, out)
    print(f"results written to {out} ({results['seconds'] / 60:.1f} min)", file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
