"""The course's benchmark suite: ``python -m benchmarks`` (``make bench``).

Sections (``--only``): ``models`` (training throughput and peak memory of
every model, both frameworks, quick and full profile sizes), ``overhead``
(``coursekit.train.fit`` against a plain loop), ``precision`` (fp32 against
mixed precision, on a GPU) and ``notebooks`` (every notebook's execution
time).  Each prints one Markdown table; all go into one JSON results file
with the machine, the versions and the date, from which
``python -m benchmarks.page`` writes the book's performance appendix.
"""


def comma_separated(allowed):
    """An argparse type for the suite's command lines: a comma-separated list whose every item is in ``allowed``."""
    import argparse

    def parse(text: str) -> list[str]:
        chosen = [item.strip() for item in text.split(",") if item.strip()]
        unknown = [item for item in chosen if item not in allowed]
        if unknown or not chosen:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(allowed)} (got {text!r})")
        return chosen
    return parse


def limit_threads(threads: int) -> None:
    """Every process started from here (measurements, kernels) uses ``threads`` threads.

    On a machine shared with other jobs, OpenMP threads that wait for each
    other at every barrier can make torch a hundred times slower; one thread
    per process keeps such a run usable.
    """
    import os

    os.environ.update({name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                       "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")})


def write_results(results: dict, path) -> None:
    """Write a results file as JSON atomically (a temporary file, then a rename): an interrupted run leaves none."""
    import json
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(results, indent=1) + "\n")
    os.replace(temporary, path)


def with_earlier_runs(results: dict, earlier: dict | None, out, key, compared: tuple) -> dict:
    """``results`` with the rows of ``earlier`` (the file at ``out``) that this command did not rerun, when
    that file agrees with ``results`` on every key of ``compared`` and was measured on the same machine: a
    subset of runs can be rerun or added without training the rest again.  ``key(row)`` says which run a row
    is.  A file that differs is replaced, and the command says so on stderr."""
    import sys

    if earlier is None:
        return results
    same = all(earlier.get(name) == results[name] for name in compared) and \
        earlier.get("machine", {}).get("tag") == results["machine"]["tag"]
    if not same:
        print(f"{out}: measured with other settings or on another machine; replaced", file=sys.stderr)
        return results
    rerun = {key(row) for row in results["rows"]}
    kept = [row for row in earlier["rows"] if key(row) not in rerun]
    if not kept:
        return results
    print(f"{out}: kept {len(kept)} earlier run(s) this command did not rerun", file=sys.stderr)
    return {**results, "rows": kept + results["rows"], "seconds": round(earlier["seconds"] + results["seconds"], 1),
            "earlier_commands": earlier.get("earlier_commands", []) + [earlier["command"]]}
