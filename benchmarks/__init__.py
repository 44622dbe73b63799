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
