"""The full profile's smoke run: ``python -m benchmarks.smoke`` (``make smoke-full``).

Every Colab student with a GPU runs the full profile; a CPU cannot train it, but
it can run it.  This command runs chapters top to bottom in the full profile
with ``COURSEKIT_SMOKE=1`` (:mod:`coursekit.smoke`): the full profile's image
sizes, widths, batch sizes, datasets, models and code paths, with each training
cut to one epoch of two steps and each evaluation or prediction of a set to two
images.  One fresh kernel per chapter and framework, one at a time, in a child
process of its own, so that the peak memory measured is that chapter's.

What the run is given, made beforehand in a work folder:

* a data folder (``COURSEKIT_DATA``) holding the datasets of ``--data`` (the
  developers' ``../shared/data``): each dataset that coursekit can download is
  downloaded into it from a local mirror of ``--data``
  (``COURSEKIT_DOWNLOAD_MIRROR=file://...``), so that the download code and its
  checksums run; a dataset whose copy there is not the registry's (CamVid's is
  downsampled) or that cannot be downloaded is linked in as it is, and the
  results say which was which.  Chapters that ask for a download find a
  mirror, never the network;
* ImageNet weights with the real layer names and shapes and random values
  (``COURSEKIT_PRETRAINED_DIR``), which ``build(..., pretrained=True)`` loads
  in smoke mode, so that the name mapping and the input conversion run.

Cells tagged ``trained-claim`` assert what only a trained model can show: their
assertions are replaced, at run time only, by a line saying they were skipped,
and the results list them.  Everything else runs, asserts included.

It writes ``benchmarks/results/smoke-<machine>.json`` (atomically; runs of
chapters not run this time are kept): per chapter and framework, pass or fail
(with the failing cell), seconds (kernel start included), peak resident memory
of the kernel's process tree, each training's model, input and the seconds of
each of its steps at full size, and the skipped claim cells.

    python -m benchmarks.smoke                                  # every chapter, both frameworks
    python -m benchmarks.smoke --chapters 01_segmentation_basics --frameworks torch
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from coursekit import smoke
from coursekit.results import RESULTS, SMOKE_PREFIX, SMOKE_SCHEMA

from . import comma_separated, limit_threads, machine, write_results
from .notebooks import PROBE, _peaks
from .worker import ROOT

FRAMEWORKS = ("torch", "keras")
RESULT_MARK = "SMOKE-RESULT "
SKIPPED = "skipped in smoke mode: "
# The ImageNet weights the chapters' pretrained=True loads (chapter 2's FCNs: VGG16), written before the runs;
# any other is written by coursekit.smoke when a chapter first asks for it (and recorded as weights_written).
PRETRAINED = {"torch": ("vgg16",), "keras": ("vgg16",)}


def chapters() -> list[str]:
    return sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))


def default_path() -> Path:
    return ROOT / RESULTS / f"{SMOKE_PREFIX}{machine.tag(machine.machine())}.json"


def default_data() -> Path | None:
    given = os.environ.get("COURSEKIT_DATA")
    for folder in ([Path(given)] if given else []) + [ROOT.parent / "shared" / "data"]:
        if folder.is_dir():
            return folder.resolve()
    return None


# --- Claim cells ----------------------------------------------------------------------------


class _SkipAsserts(ast.NodeTransformer):
    def __init__(self):
        self.skipped: list[str] = []

    def visit_Assert(self, node: ast.Assert):
        text = ast.unparse(node.test).splitlines()[0]
        self.skipped.append(text)
        call = ast.Call(ast.Name("print", ast.Load()), [ast.Constant(f"{SKIPPED}assert {text}")], [])
        return ast.copy_location(ast.Expr(call), node)


def skip_assertions(source: str) -> tuple[str, list[str]]:
    """``source`` with every ``assert`` replaced by a print saying it was skipped, and the skipped conditions.

    The rest of the cell runs: later cells may use what it defines (chapter 6's ``unet``).  A cell that is not
    plain Python is replaced whole by such a print.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        first = source.strip().splitlines()[0] if source.strip() else ""
        return f"print({SKIPPED + first!r})\n", [first]
    skipper = _SkipAsserts()
    tree = ast.fix_missing_locations(skipper.visit(tree))
    header = f"# {smoke.CLAIM_TAG}: this cell's assertions are skipped in smoke mode\n"
    return header + ast.unparse(tree) + "\n", skipper.skipped


def skip_claims(notebook) -> list[dict]:
    """Rewrite, in ``notebook`` (in memory only), the cells tagged ``trained-claim``; return what was skipped."""
    skipped = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or smoke.CLAIM_TAG not in cell.metadata.get("tags", []):
            continue
        first = next((line for line in cell.source.splitlines() if line.strip()), "")
        cell.source, asserts = skip_assertions(cell.source)
        skipped.append({"cell": index, "first_line": first, "assertions": asserts})
    return skipped


# --- One run, in a child process ------------------------------------------------------------


def _failed_cell(notebook) -> dict | None:
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                first = next((line for line in cell.source.splitlines() if line.strip()), "")
                error = f"{output['ename']}: {output['evalue']}"[:600]
                return {"cell": index, "first_line": first[:200], "error": error}
    return None


def execute(path: Path, timeout: float, cwd: Path | None = None, keep: Path | None = None,
            env: dict | None = None) -> dict:
    """Run the notebook ``path`` (MyST text or .ipynb) top to bottom in a fresh kernel, claim cells skipped.

    The environment is this process's (or ``env``): the caller sets the smoke mode's variables.  The first
    error stops the run; the result says which cell failed.
    """
    import jupytext
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    notebook = jupytext.read(path)
    skipped = skip_claims(notebook)
    notebook.cells.append(nbformat.v4.new_code_cell(PROBE))
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd or path.parent)}})
    status, failed = "ok", None
    start = time.perf_counter()
    try:
        client.execute(env=dict(os.environ if env is None else env))
    except CellTimeoutError:
        status = f"error: a cell ran past {timeout:.0f} s"
    except (CellExecutionError, DeadKernelError) as err:
        status = f"error: {getattr(err, 'ename', type(err).__name__)}: {getattr(err, 'evalue', err)}"[:600]
    seconds = time.perf_counter() - start
    if status != "ok":
        failed = _failed_cell(notebook)
    if keep is not None:
        keep.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, keep)
    peaks = _peaks(notebook)
    return {"status": status, "seconds": round(seconds, 1), "kernel_peak_rss_mb": peaks["peak_rss_mb"],
            "peak_gpu_mb": peaks["peak_gpu_mb"], "skipped_claims": skipped, "failed_cell": failed}


def _child(spec: dict) -> None:
    """``python -m benchmarks.smoke --child SPEC``: one run; its kernel is this process's child."""
    result = execute(Path(spec["path"]), spec["timeout"], keep=Path(spec["keep"]) if spec.get("keep") else None)
    # after the kernel was shut down and reaped: the largest resident set of any process of its tree
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)
    result["peak_rss_mb"] = round(max(peak, result["kernel_peak_rss_mb"] or 0), 1)
    print(RESULT_MARK + json.dumps(result), flush=True)


def summarise(events: list[dict]) -> dict:
    """What the kernel recorded (:func:`coursekit.smoke.record`): trainings with their step times, cuts, weights."""
    trainings = []
    for e in (e for e in events if e["event"] == "fit"):
        steps = e["step_seconds"]
        steady = steps[-1] if steps else None  # the first step also builds (Keras traces, torch warms up)
        full = None if steady is None else round(steady * e["steps_per_epoch_requested"] * e["epochs_requested"])
        trainings.append({key: e[key] for key in ("model", "framework", "image_shape", "batch_size", "train_images",
                                                   "epochs_requested", "steps_per_epoch_requested", "epochs_run",
                                                   "steps_per_epoch_run", "step_seconds")}
                         | {"full_training_seconds_estimate": full})
    steady = [t["step_seconds"][-1] for t in trainings if t["step_seconds"]]
    pretrained = [{k: e[k] for k in ("model", "framework", "path", "ok") if k in e} | (
        {"error": e["error"]} if "error" in e else {}) for e in events if e["event"] == "pretrained"]
    return {
        "trainings": trainings,
        "step_seconds": max(steady) if steady else None,  # the slowest training's step, after its first
        "step_seconds_median": round(statistics.median(steady), 4) if steady else None,
        "full_training_seconds_estimate": sum(t["full_training_seconds_estimate"] or 0 for t in trainings) or None,
        "predictions_cut": sum(1 for e in events if e["event"] == "predict"),
        "evaluations_cut": sum(1 for e in events if e["event"] == "evaluate" and e["scored"] < e["images"]),
        "pretrained": pretrained,
        "weights_written_in_kernel": [e for e in events if e["event"] == "weights_written"],
    }


def run_one(path: Path, framework: str, work: Path, environment: dict, timeout: float,
            keep: Path | None = None) -> dict:
    """The notebook ``path`` (a chapter's .md) in one framework, in a child process; errors are recorded, not
    raised.  ``environment`` is the kernel's, smoke mode's variables included."""
    stem = path.stem
    log = work / "logs" / f"{stem}-{framework}.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    env = dict(environment, COURSEKIT_FRAMEWORK=framework, **{smoke.LOG_ENV: str(log)})
    spec = {"path": str(path), "timeout": timeout,
            "keep": str(keep / f"{stem}-{framework}.ipynb") if keep else None}
    start = time.perf_counter()
    try:
        completed = subprocess.run([sys.executable, "-m", "benchmarks.smoke", "--child", json.dumps(spec)],
                                   cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout * 4)
        lines = [line for line in completed.stdout.splitlines() if line.startswith(RESULT_MARK)]
        if lines:
            result = json.loads(lines[-1][len(RESULT_MARK):])
        else:
            tail = [line for line in completed.stderr.splitlines() if line.strip()][-3:]
            result = {"status": f"error: the runner's child failed: {' | '.join(tail)}"[:600]}
    except subprocess.TimeoutExpired:
        result = {"status": f"error: the run took more than {timeout * 4:.0f} s"}
    result.setdefault("seconds", round(time.perf_counter() - start, 1))
    result.update(summarise(smoke.read_log(log)))
    failed = [p for p in result["pretrained"] if not p["ok"]]
    if result["status"] == "ok" and failed:  # a chapter may fall back from pretrained weights quietly
        result["status"] = f"error: pretrained weights did not load: {failed[0].get('error', '')}"[:600]
    result["passed"] = result["status"] == "ok"
    result["date"] = machine.now()
    return result


# --- What the runs are given ----------------------------------------------------------------


@contextmanager
def _environment(**values):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def prepare_data(source: Path | None, root: Path) -> dict:
    """Fill the runs' data folder ``root`` from ``source``: downloaded from its ``file://`` mirror where coursekit
    can download the dataset and the copy is the registry's, linked in otherwise.  Returns what was done."""
    from coursekit.data.download import MIRROR_ENV, REGISTRY, Mirror, download

    root.mkdir(parents=True, exist_ok=True)
    if source is None:
        return {"source": None, "mirror": None, "datasets": {}}
    source = source.resolve()  # a file:// URL names an absolute path
    mirror = source.as_uri()
    datasets = {}
    for folder in sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith(".")):
        entry = REGISTRY.get(folder.name)
        report = {}
        if isinstance(entry, Mirror) and not any(f.archive for f in entry.files):
            start = time.perf_counter()
            try:
                with _environment(**{MIRROR_ENV: mirror}):
                    download(folder.name, root, progress=False, retries=0)
                report = {"how": "downloaded from the mirror", "files": len(entry.files),
                          "seconds": round(time.perf_counter() - start, 1)}
            except Exception as error:  # recorded: the copy in source is then used as it is
                shutil.rmtree(root / folder.name, ignore_errors=True)
                report = {"download": f"failed: {type(error).__name__}: {error}"[:300]}
        if not report.get("how"):
            (root / folder.name).symlink_to(folder, target_is_directory=True)
            report["how"] = "linked: the copy on disk"
        datasets[folder.name] = report
    return {"source": str(source), "mirror": mirror, "datasets": datasets}


_WRITE_WEIGHTS = """
import json, sys, time
from coursekit.models import write_fake_imagenet_weights
backbone, framework, path = sys.argv[1:4]
start = time.perf_counter()
write_fake_imagenet_weights(backbone, framework, path)
print(json.dumps({"seconds": round(time.perf_counter() - start, 1)}))
"""


def prepare_weights(directory: Path, frameworks, stems) -> dict:
    """The fake ImageNet weights the chosen chapters load, each written in a process of its own."""
    directory.mkdir(parents=True, exist_ok=True)
    needed = any("pretrained=True" in (ROOT / "notebooks" / f"{stem}.md").read_text() for stem in stems)
    written = {}
    for framework in frameworks if needed else ():
        for backbone in PRETRAINED[framework]:
            path = directory / smoke.weights_name(backbone, framework)
            completed = subprocess.run([sys.executable, "-c", _WRITE_WEIGHTS, backbone, framework, str(path)],
                                       cwd=ROOT, capture_output=True, text=True)
            if completed.returncode == 0:
                written[f"{backbone}-{framework}"] = {"file": path.name, "mb": round(path.stat().st_size / 2**20),
                                                      **json.loads(completed.stdout.splitlines()[-1])}
            else:
                written[f"{backbone}-{framework}"] = {"error": completed.stderr.strip().splitlines()[-1][:300]}
    return written


# --- The command ----------------------------------------------------------------------------


def portable(value, places: dict[str, str]):
    """``value`` (a results entry) with every local path in ``places`` written as its stand-in, so that the
    committed file says the same on every machine (``places``: path or URL -> stand-in)."""
    if isinstance(value, str):  # in one pass, so that a stand-in is never rewritten in turn
        pattern = "|".join(re.escape(local) for local in sorted(places, key=len, reverse=True))
        return re.sub(pattern, lambda match: places[match.group(0)], value) if places else value
    if isinstance(value, dict):
        return {key: portable(item, places) for key, item in value.items()}
    if isinstance(value, list):
        return [portable(item, places) for item in value]
    return value


def local_places(work: Path, data: Path | None) -> dict[str, str]:
    """The run's local paths and their stand-ins: the work folder, and the data relative to the repository."""
    places = {str(work): "<work folder>", str(work.resolve()): "<work folder>"}
    if data is not None:
        relative = os.path.relpath(data.resolve(), ROOT)
        places.update({data.resolve().as_uri(): f"file://{relative}", str(data.resolve()): relative,
                       str(data): relative})
    return places


def _pair(runs: dict, cell) -> str:
    """One cell for both frameworks: torch's value / Keras' value."""
    return " / ".join(cell(runs[f]) if f in runs else "–" for f in ("torch", "keras"))


def table(result: dict) -> str:
    """A chapter a row, torch and Keras side by side, narrow enough for the page's column."""
    lines = ["| chapter | passed | seconds | peak RSS GiB | step s | claim cells skipped |",
             "|---|---|---|---|---|---|"]
    for stem, runs in result["runs"].items():
        passed = _pair(runs, lambda row: "yes" if row["passed"] else "**no**")
        seconds = _pair(runs, lambda row: f"{row['seconds']:.0f}")
        memory = _pair(runs, lambda row: "–" if row.get("peak_rss_mb") is None else f"{row['peak_rss_mb'] / 1024:.1f}")
        step = _pair(runs, lambda row: "–" if row.get("step_seconds") is None else f"{row['step_seconds']:.1f}")
        skipped = _pair(runs, lambda row: str(len(row.get("skipped_claims", []))))
        lines.append(f"| {stem.replace('_', ' ')} | {passed} | {seconds} | {memory} | {step} | {skipped} |")
    return "\n".join(lines) + "\n\nEach cell: torch / Keras."


def parse(argv=None) -> argparse.Namespace:
    stems = chapters()
    parser = argparse.ArgumentParser(prog="python -m benchmarks.smoke", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chapters", type=comma_separated(stems), default=stems,
                        help="chapters to run, comma-separated (default: all); others keep their entries")
    parser.add_argument("--frameworks", type=comma_separated(list(FRAMEWORKS)), default=list(FRAMEWORKS))
    parser.add_argument("--data", type=Path, default=default_data(),
                        help="the data to mirror (default: $COURSEKIT_DATA, else ../shared/data)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per cell")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads per kernel (default 0: the frameworks' defaults, as a student's run)")
    parser.add_argument("--workdir", type=Path, help="where the data folder, weights and logs go (default: a "
                        "temporary folder, deleted afterwards)")
    parser.add_argument("--keep-executed", type=Path, help="write each executed notebook there")
    parser.add_argument("--out", type=Path, help="the results file (default: benchmarks/results/smoke-<machine>.json)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> dict | None:
    options = parse(argv)
    if options.child:
        _child(json.loads(options.child))
        return None
    if options.threads > 0:
        limit_threads(options.threads)
    path = options.out or default_path()
    results = json.loads(path.read_text()) if path.exists() else {"schema": SMOKE_SCHEMA, "runs": {}}
    start = time.perf_counter()
    work = options.workdir or Path(tempfile.mkdtemp(prefix="coursekit-smoke-"))
    try:
        places = local_places(work, options.data)
        data = portable(prepare_data(options.data, work / "data"), places)
        weights = prepare_weights(work / "weights", options.frameworks, options.chapters)
        environment = dict(os.environ, COURSEKIT_PROFILE="full", COURSEKIT_SMOKE="1", COURSEKIT_SEED="0",
                           COURSEKIT_DATA=str(work / "data"), **{smoke.PRETRAINED_ENV: str(work / "weights")})
        if data["mirror"]:
            environment["COURSEKIT_DOWNLOAD_MIRROR"] = data["mirror"]
        for stem in options.chapters:
            for framework in options.frameworks:
                row = portable(run_one(ROOT / "notebooks" / f"{stem}.md", framework, work, environment,
                                       options.timeout, options.keep_executed), places)
                results["runs"].setdefault(stem, {})[framework] = row
                step = "" if row["step_seconds"] is None else f", step {row['step_seconds']:.2f} s"
                print(f"smoke: {stem} {framework}: {'pass' if row['passed'] else row['status']}, "
                      f"{row['seconds']:.0f} s, peak {row.get('peak_rss_mb') or 0:.0f} MB{step}, "
                      f"{len(row.get('skipped_claims', []))} claim cell(s) skipped", file=sys.stderr, flush=True)
    finally:
        if options.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    results["runs"] = {stem: dict(sorted(runs.items(), key=lambda kv: FRAMEWORKS.index(kv[0])))
                       for stem, runs in sorted(results["runs"].items())}
    command = portable(shlex.join(["python", "-m", "benchmarks.smoke", *sys.argv[1:]]), places)
    results.update(schema=SMOKE_SCHEMA, machine=machine.machine(), versions=machine.versions(), date=machine.now(),
                   profile="full", command=command,
                   smoke={"epochs": smoke.EPOCHS, "steps_per_epoch": smoke.STEPS, "images": smoke.IMAGES,
                          "cut_fields": list(smoke.CUT_FIELDS), "claim_tag": smoke.CLAIM_TAG},
                   threads_per_kernel=options.threads or "default", data=data, weights=weights)
    results.setdefault("sweeps", []).append(
        {"date": machine.now(), "chapters": options.chapters, "frameworks": options.frameworks,
         "seconds": round(time.perf_counter() - start),
         "passed": sum(results["runs"][s][f]["passed"] for s in options.chapters for f in options.frameworks),
         "runs": len(options.chapters) * len(options.frameworks)})
    write_results(results, path)
    print(table(results))
    print(f"\nwrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return results


if __name__ == "__main__":
    finished = main()
    # a failed run fails the command (and CI), after the results file was written
    if finished is not None and not all(finished["runs"][stem][framework]["passed"]
                                        for stem in finished["sweeps"][-1]["chapters"]
                                        for framework in finished["sweeps"][-1]["frameworks"]):
        sys.exit(1)
