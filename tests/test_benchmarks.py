"""The benchmark suite (benchmarks/, `make bench`) and the performance appendix it writes (book/performance.md)."""

import copy
import json
import re
import subprocess
import sys

import nbformat
import pytest
import yaml
from conftest import ROOT

from coursekit.models import build, count_params, names
from coursekit.profiles import settings_for

sys.path.insert(0, str(ROOT))  # the suite is a package beside src/, run from the root as `python -m benchmarks`
from benchmarks import goals, models, notebooks, page  # noqa: E402

WORKFLOWS = ROOT / ".github" / "workflows"


def notebook_file(path, source: str):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)
    return path


def test_every_model_is_sized_by_a_profile_row():
    assert set(models.EXPERIMENT) == set(models.CONFIG) == set(names()), "a model the benchmark does not know"
    for experiment in models.EXPERIMENT.values():
        settings_for(experiment, "quick"), settings_for(experiment, "full")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """Every section once, at toy sizes: one model, one framework, one timed step, a one-cell notebook."""
    folder = tmp_path_factory.mktemp("bench")
    # the cell fails unless the kernel runs under the framework and profile the benchmark sets
    notebook = notebook_file(folder / "tiny.ipynb", "import os\nassert os.environ['COURSEKIT_FRAMEWORK'] == 'torch'\n"
                                                    "assert os.environ['COURSEKIT_PROFILE'] == 'quick'")
    out = folder / "results.json"
    command = [sys.executable, "-m", "benchmarks", "--models", "tiny_fcn", "--frameworks", "torch", "--sizes",
               "quick", "--profile", "quick", "--steps", "1", "--warmup", "0", "--image-size", "32", "--width", "4",
               "--overhead-images", "8", "--repeats", "1", "--threads", "1", "--notebooks", str(notebook),
               "--out", str(out)]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads(out.read_text()), completed.stdout


def test_a_run_records_machine_versions_date_and_profile(tiny_run):
    results, _ = tiny_run
    assert results["schema"] == 1 and results["profile"] == "quick" and results["threads"] == 1
    assert {"cpu", "cores", "ram_gb", "gpu", "tag"} <= set(results["machine"])
    assert all(results["versions"][name] for name in ("python", "torch", "tensorflow", "keras", "coursekit"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", results["date"])
    assert set(results["sections"]) == {"models", "overhead", "precision", "notebooks"}


def test_a_run_measures_the_model_it_was_asked_for(tiny_run):
    (row,) = tiny_run[0]["sections"]["models"]["rows"]
    assert row["status"] == "ok", row["status"]
    assert (row["model"], row["framework"], row["image_size"], row["width"]) == ("tiny_fcn", "torch", 32, 4)
    assert row["batch_size"] == settings_for("basics", "quick").batch_size
    assert row["params"] == count_params(build("tiny_fcn", "torch", num_classes=4, width=4))
    assert row["images_per_second"] == pytest.approx(row["batch_size"] / row["seconds_per_step"])
    assert row["peak_rss_mb"] > 50, "a process that imported torch holds more than this"


def test_fit_and_the_plain_loop_end_with_the_same_weights(tiny_run):
    (row,) = tiny_run[0]["sections"]["overhead"]["rows"]
    assert row["status"] == "ok", row["status"]
    assert row["ratio"] == pytest.approx(row["fit_s"] / row["plain_s"])
    if row["device"] == "cpu":  # on a GPU, channels-last kernels round differently
        assert row["max_weight_difference"] == 0


def test_precision_is_measured_on_a_gpu_only(tiny_run):
    results, _ = tiny_run
    section = results["sections"]["precision"]
    if results["machine"]["gpu"] is None:
        assert section == {"status": "skipped: no GPU", "device": "cpu", "rows": []}
    else:
        assert section["status"] == "measured" and section["rows"]


def test_notebooks_run_under_the_chosen_framework_and_profile(tiny_run):
    (row,) = tiny_run[0]["sections"]["notebooks"]["rows"]
    assert row["status"] == "ok", row["status"]
    assert row["seconds"] > 0 and row["peak_rss_mb"] > 0


def test_the_printed_tables_hold_the_numbers_of_the_file(tiny_run):
    results, stdout = tiny_run
    assert stdout.count("## ") == 4, "one table per section"
    if results["machine"]["gpu"] is None:
        assert "skipped: no GPU" in stdout
    (row,) = results["sections"]["models"]["rows"]
    assert f"| `tiny_fcn` | quick | 32² × 16 | 4 | {row['images_per_second']:,.0f} |" in stdout


def test_a_failing_notebook_is_a_row_that_says_so(tmp_path):
    path = notebook_file(tmp_path / "broken.ipynb", "1 / 0")
    row = notebooks.execute(path, "torch", "quick", timeout=120, keep=tmp_path / "executed")
    assert row["status"].startswith("error: ZeroDivisionError"), row["status"]
    kept = nbformat.read(tmp_path / "executed" / "broken-torch.ipynb", as_version=4)
    assert kept.cells[0].outputs[0]["ename"] == "ZeroDivisionError", "the executed copy keeps what the run printed"


def fake_results(gpu: bool = False, ratio: float = 1.02, notebook_status: str = "ok") -> dict:
    """The least a results file holds for the goals: a machine, a date, an overhead and a notebook row."""
    machine = {"cpu": "Test CPU", "cores": 2, "gpu": {"name": "Test GPU"} if gpu else None}
    notebook = {"notebook": "notebooks/01_segmentation_basics.ipynb", "framework": "torch", "seconds": 60.0,
                "status": notebook_status, "peak_gpu_mb": 1024.0 if gpu else None}
    return {"machine": machine, "date": "2026-01-01T00:00:00+00:00", "sections": {
        "overhead": {"status": "measured", "rows": [{"framework": "torch", "ratio": ratio, "status": "ok"}]},
        "notebooks": {"status": "measured", "profile": "full" if gpu else "quick", "rows": [notebook]},
        "precision": {"status": "skipped: no GPU", "rows": []}}}


def verdicts(results) -> dict:
    rows = [line.split(" | ") for line in goals.table(results).splitlines()[2:]]
    return {row[0].lstrip("| "): row[-1].rstrip(" |") for row in rows}


def test_goals_are_met_missed_failed_or_still_to_be_measured():
    assert verdicts([fake_results(ratio=1.04)])["engine overhead over a plain loop (torch)"] == "met"
    assert verdicts([fake_results(ratio=1.06)])["engine overhead over a plain loop (torch)"] == "**missed**"
    failed = verdicts([fake_results(notebook_status="error: ZeroDivisionError: division by zero")])
    assert failed["whole course, quick profile, CPU (torch)"].startswith("**failed**")
    cpu_only = verdicts([fake_results()])
    assert cpu_only["slowest notebook, full profile, GPU"] == goals.TO_MEASURE
    assert cpu_only["mixed precision (with channels-last) over fp32, `unet` and `fcn8s`"] == goals.TO_MEASURE
    with_gpu = verdicts([fake_results(), fake_results(gpu=True)])
    assert with_gpu["slowest notebook, full profile, GPU (torch)"] == "met"
    assert with_gpu["peak GPU memory of a notebook, full profile (torch)"] == "met"


def with_notebooks(result: dict, seconds: dict) -> dict:
    """``result`` whose notebook rows are torch runs of ``seconds`` (notebook path -> seconds)."""
    rows = [{"notebook": path, "framework": "torch", "seconds": value, "status": "ok", "peak_gpu_mb": None}
            for path, value in seconds.items()]
    return {**result, "sections": {**result["sections"], "notebooks": {**result["sections"]["notebooks"],
                                                                       "rows": rows}}}


def test_each_camvid_chapter_must_fit_four_minutes_and_the_slowest_decides():
    goal = "slowest CamVid chapter (2, 3), quick profile, CPU (torch)"
    quick = {"notebooks/01_segmentation_basics.ipynb": 500.0, "notebooks/02_fcn.ipynb": 150.0,
             "notebooks/03_segnet.ipynb": 230.0}
    assert verdicts([with_notebooks(fake_results(), quick)])[goal] == "met"  # chapter 1 is not a CamVid chapter
    slow = {**quick, "notebooks/03_segnet.ipynb": 250.0}
    assert verdicts([with_notebooks(fake_results(), slow)])[goal] == "**missed**"
    assert "4.2 min (2 notebooks)" in goals.table([with_notebooks(fake_results(), slow)])


def test_a_result_of_notebooks_the_course_no_longer_has_is_stale_not_met():
    older = with_notebooks(fake_results(), {"notebooks/02_fcn.ipynb": 50.0, "notebooks/06_comparison.ipynb": 9.0})
    stale = "stale: `06_comparison` since removed"
    assert verdicts([older])["whole course, quick profile, CPU (torch)"] == stale
    assert verdicts([older])["slowest CamVid chapter (2, 3), quick profile, CPU (torch)"] == stale


def test_the_page_and_its_figure_are_made_from_the_committed_results():
    results = page.load()
    assert results, "benchmarks/results/ holds no results file: run `make bench`"
    text = page.PAGE.read_text()
    assert page.render(text, page.blocks(results)) == text, "book/performance.md is stale: python -m benchmarks.page"
    assert page.figure_digest() == page.digest(results), "the figure is stale: python -m benchmarks.page"


def test_a_changed_result_makes_the_page_stale():
    results = page.load()
    changed = copy.deepcopy(results)
    changed[0]["date"] = "2000-01-01T00:00:00+00:00"
    assert page.render(page.PAGE.read_text(), page.blocks(changed)) != page.PAGE.read_text()
    assert page.digest(changed) != page.digest(results)


def test_the_page_says_whether_gpu_numbers_exist():
    has_gpu = any(r["machine"]["gpu"] for r in page.load())
    assert ("still to be measured" in page.PAGE.read_text()) is not has_gpu


def workflow(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def commands(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_the_cpu_workflow_runs_what_ci_runs():
    (job,) = workflow("cpu.yml")["jobs"].values()
    python = [s["with"]["python-version"] for s in job["steps"] if s.get("uses", "").startswith("actions/setup-py")]
    assert python == ["3.11"]
    assert ".ci/run" in commands(job) and "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_gpu_workflow_runs_every_notebook_in_the_full_profile_and_the_benchmark():
    (job,) = workflow("gpu.yml")["jobs"].values()
    assert job["runs-on"] == ["self-hosted", "gpu"] and job["env"]["COURSEKIT_PROFILE"] == "full"
    notebook_steps = {s["env"]["COURSEKIT_FRAMEWORK"]: s["run"] for s in job["steps"]
                      if "--nbval-lax" in s.get("run", "")}
    assert set(notebook_steps) == {"torch", "keras"}
    for command in notebook_steps.values():
        assert "notebooks/*.ipynb" in command and "book/*.ipynb" in command
    assert "make install" in commands(job) and "make bench" in commands(job)
    steps = [s.get("run", "") for s in job["steps"]]
    compare = [i for i, run in enumerate(steps) if "benchmarks.compare_architectures --profile full" in run]
    first_notebooks = min(i for i, run in enumerate(steps) if "--nbval-lax" in run)
    assert compare and compare[0] < first_notebooks, "chapter 7 must find the full comparison when it runs"
    on_camvid = [i for i in compare if "--dataset camvid" in steps[i]]
    assert on_camvid and min(compare) < on_camvid[0] < first_notebooks, \
        "the CamVid runs join the full file after its ISBI runs, before chapter 7 reads it"
    lock = (ROOT / "requirements-lock.txt").read_text()
    assert re.search(r"^torch==", lock, re.M) and re.search(r"^tensorflow==", lock, re.M), "gpu.yml reads these"
    (upload,) = [s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
    kept = upload["with"]["path"]
    assert "benchmarks/results/*.json" in kept and "benchmarks/results/*.npz" in kept


def test_make_bench_and_the_appendix_are_wired_in():
    makefile = (ROOT / "Makefile").read_text()
    target = re.search(r"^bench:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert target, "the Makefile has no bench target"
    assert re.search(r"-m benchmarks\s", target[1]) and "-m benchmarks.page" in target[1]
    assert "book/performance" in (ROOT / "_toc.yml").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make bench" in readme and "gpu.yml" in readme
