"""The claims sweep (benchmarks/claims.py): what the chapters assert holds for seeds 0-2 in both frameworks.

The sweep itself takes most of an hour on two cores, so it is not run here:
these tests check the committed results file against the chapters as they are
now, and the sweep's machinery on small cases.
"""

import json
import math

import jupytext
import nbformat
import numpy as np
import pytest
from conftest import ROOT

from benchmarks import claims
from coursekit import results, viz

COMMITTED = sorted((ROOT / "benchmarks" / "results").glob("claims-*.json"))
CHAPTERS = [path.stem for path in claims.chapters()]
# an asserted comparison must hold with this much to spare in every run: its threshold sits inside
# the range the sweep measured, not at its edge
ROOM = 0.02


def newest() -> results.Sweep:
    assert COMMITTED, "no benchmarks/results/claims-*.json: run make claims and commit its file"
    return results.load_claims(download=False)


# --- the committed sweep covers the chapters as they are -------------------------------------------


@pytest.mark.parametrize("stem", CHAPTERS)
def test_every_chapter_was_swept_as_it_is_now(stem):
    sweep = newest()
    assert stem in sweep.results["chapters"], f"{stem} was never swept: rerun make claims"
    entry = sweep.chapter(stem)
    assert entry["digest"] == claims.digest(ROOT / "notebooks" / f"{stem}.ipynb"), (
        f"{stem}'s code or its claims changed after {sweep.path.name} was written: rerun make claims "
        f"(python -m benchmarks.claims --chapters {stem}) and commit the file")


@pytest.mark.parametrize("stem", CHAPTERS)
def test_every_run_of_the_sweep_ran_to_the_end(stem):
    entry = newest().chapter(stem)
    ran = sorted((run["framework"], run["seed"]) for run in entry["runs"])
    assert ran == sorted((f, s) for f in claims.FRAMEWORKS for s in claims.SEEDS), f"{stem}: runs missing"
    failed = {f"{run['framework']} seed {run['seed']}": run["status"] for run in entry["runs"] if run["status"] != "ok"}
    assert not failed, f"{stem}: the chapter failed in the sweep: {failed}"


@pytest.mark.parametrize("stem", CHAPTERS)
def test_asserted_claims_held_in_every_run_with_room_to_spare(stem):
    entry = newest().chapter(stem)
    judged = {claim["text"]: claim for claim in entry["claims"]}
    assert sorted(judged) == sorted(c.text for c in claims.CLAIMS[stem]), f"{stem}: rerun make claims"
    for claim in claims.CLAIMS[stem]:
        found = judged[claim.text]
        assert None not in found["differences"], f"{stem}: {claim.text!r} was not recorded in every run"
        if claim.asserted:
            assert found["min"] > claim.margin + ROOM, (
                f"{stem}: {claim.text!r} is asserted with margin {claim.margin}, but over the sweep it ranged "
                f"from {found['min']:+.3f} to {found['max']:+.3f}: show the spread instead of asserting it")
        elif claim.holds == "always":
            assert found["held"] == found["runs"], (
                f"{stem}: the prose says {claim.text!r} in every run, but it held in {found['held']} of "
                f"{found['runs']}: rewrite the prose (and the claim's holds=)")
        else:
            assert 0 < found["held"] < found["runs"], (
                f"{stem}: the prose says {claim.text!r} only in some runs, but it held in {found['held']} of "
                f"{found['runs']}: rewrite the prose (and the claim's holds=)")


def test_the_sweep_reports_its_machine_and_its_time():
    sweep = newest()
    assert sweep.results["machine"]["cpu"] and sweep.results["versions"]["torch"]
    assert sweep.results["sweeps"] and all(s["seconds"] > 0 for s in sweep.results["sweeps"])
    assert sweep.results["threads_per_run"] == 1 and sweep.results["profile"] == "quick"


# --- the machinery --------------------------------------------------------------------------------


def test_a_claim_that_is_asserted_must_be_said_to_hold_always():
    with pytest.raises(ValueError, match="'always' when asserted"):
        claims.Claim("x beats y", "x", "y", holds="sometimes")
    with pytest.raises(ValueError, match="holds must be"):
        claims.Claim("x beats y", "x", "y", asserted=False, holds="mostly")


def test_every_claim_names_recorded_values():
    for stem, chapter_claims in claims.CLAIMS.items():
        known = set(claims.VALUES[stem]) | set(claims.DERIVED.get(stem, {}))
        for claim in chapter_claims:
            for side in (claim.left, claim.right):
                assert isinstance(side, (int, float)) or side in known, f"{stem}: {claim.text!r} names {side!r}"


def test_judge_counts_where_a_claim_held_and_its_range():
    stem = "04_unet"
    runs = [{"values": {"unet_membrane_dice": dice, "best_baseline_membrane_dice": 0.5}}
            for dice in (0.80, 0.58, 0.76)]
    judged = {c["text"]: c for c in claims.judge(stem, runs)}
    beats = judged["the U-Net beats every baseline on membrane Dice"]
    assert beats["held"] == 2 and beats["runs"] == 3  # 0.58 - 0.5 is not above the margin of 0.1
    assert math.isclose(beats["min"], 0.08) and math.isclose(beats["max"], 0.30)
    goal = judged["the U-Net reaches the goal of 0.75 membrane Dice"]
    assert goal["held"] == 2 and math.isclose(goal["min"], 0.58 - 0.75)


def test_judge_records_a_missing_or_infinite_value_as_none():
    runs = [{"values": {"unet_membrane_dice": "unavailable: NameError", "best_baseline_membrane_dice": 0.5}},
            {"values": {"unet_membrane_dice": math.inf, "best_baseline_membrane_dice": 0.5}}]
    beats = claims.judge("04_unet", runs)[0]
    assert beats["differences"] == [None, None] and beats["held"] == 0 and beats["min"] is None


def test_the_values_cell_reads_the_kernels_variables_and_reports_what_is_missing(capsys):
    namespace = {"membrane_dice": np.float32(0.8), "best_baseline": 0.5}
    exec(claims._values_cell("04_unet"), namespace)
    line = capsys.readouterr().out.strip()
    assert line.startswith(claims.VALUES_MARK)
    values = json.loads(line[len(claims.VALUES_MARK):])
    assert values == {"unet_membrane_dice": pytest.approx(0.8), "best_baseline_membrane_dice": 0.5}
    exec(claims._values_cell("04_unet"), {"best_baseline": 0.5})
    values = json.loads(capsys.readouterr().out.strip()[len(claims.VALUES_MARK):])
    assert values["unet_membrane_dice"].startswith("unavailable: NameError")


def test_the_digest_follows_the_code_not_the_prose(tmp_path, monkeypatch):
    text = ROOT / "notebooks" / "04_unet.md"
    copy = tmp_path / "04_unet.md"
    copy.write_text(text.read_text())
    before = claims.digest(copy.with_suffix(".ipynb"))
    assert before == claims.digest(text.with_suffix(".ipynb"))
    copy.write_text(text.read_text().replace("## Summary", "## Summary\n\nOne more sentence of prose.", 1))
    assert claims.digest(copy.with_suffix(".ipynb")) == before
    copy.write_text(text.read_text().replace("run = coursekit.setup()", "run = coursekit.setup(seed=5)", 1))
    assert claims.digest(copy.with_suffix(".ipynb")) != before
    copy.write_text(text.read_text())
    monkeypatch.setitem(claims.CLAIMS, "04_unet", claims.CLAIMS["04_unet"][:1])
    assert claims.digest(copy.with_suffix(".ipynb")) != before, "a claim dropped from the sweep changes it too"


def test_a_run_that_fails_is_recorded_with_its_error_and_still_reports_its_values(tmp_path, monkeypatch):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("import os\nmembrane_dice = 0.1 + int(os.environ['COURSEKIT_SEED'])"),
                      nbformat.v4.new_code_cell("best_baseline = 0.5\nassert membrane_dice > 0.75, 'below the goal'")]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "04_unet.ipynb"
    jupytext.write(notebook, path.with_suffix(".md"), fmt="md:myst")
    failed = claims.run_one(path, "torch", 0, timeout=120)
    assert failed["status"] == "error: AssertionError: below the goal"
    assert set(results.CLAIMS_RUN_KEYS) <= set(failed), "a run records what read_claims reads"
    assert failed["values"] == {"unet_membrane_dice": pytest.approx(0.1), "best_baseline_membrane_dice": 0.5}
    passed = claims.run_one(path, "keras", 1, timeout=120)
    assert passed["status"] == "ok" and passed["values"]["unet_membrane_dice"] == pytest.approx(1.1)


# --- coursekit.results and the spread figure ------------------------------------------------------


def small_sweep(tmp_path):
    runs = [{"framework": f, "seed": s, "status": "ok", "seconds": 1.0,
             "values": {"a": 0.6 + 0.1 * s, "b": 0.5 if f == "torch" else 0.75}}
            for f in ("torch", "keras") for s in (0, 1, 2)]
    content = {"schema": 1, "date": "2026-12-03T00:00:00+00:00", "machine": {"cpu": "Test CPU", "cores": 2},
               "versions": {"torch": "2.13.0"},
               "chapters": {"99_test": {"digest": "x", "runs": runs, "claims": [
                   {"text": "a beats b", "differences": [0.1, 0.2, 0.3, -0.15, -0.05, 0.05], "min": -0.15,
                    "max": 0.3, "held": 4, "runs": 6}]}}}
    path = tmp_path / "benchmarks" / "results" / "claims-test.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))
    return path


def test_a_malformed_claims_file_is_refused_naming_it(tmp_path):
    bad = tmp_path / "claims-bad.json"
    bad.write_text('{"schema": 1, "chapters": {"01_x": {"runs": [{"seed": 0}], "claims": []}}}')
    with pytest.raises(results.SweepFileError, match=r"claims-bad.json: a run of chapter '01_x' lacks framework"):
        results.read_claims(bad)
    bad.write_text('{"schema": 2, "chapters": {}}')
    with pytest.raises(results.SweepFileError, match="claims-bad.json: schema 2, but this coursekit reads schema 1"):
        results.read_claims(bad)
    bad.write_text("not json")
    with pytest.raises(results.SweepFileError, match="claims-bad.json: not valid JSON"):
        results.read_claims(bad)
    with pytest.raises(results.SweepFileError, match="claims-none.json: no such file"):
        results.read_claims(tmp_path / "claims-none.json")


def test_what_the_sweep_writes_the_chapters_reader_accepts(tmp_path, monkeypatch):
    """benchmarks.claims and coursekit.results share one schema: a file the sweep writes passes read_claims."""
    stem = CHAPTERS[0]

    def run_one(path, framework, seed, timeout):  # what a chapter that ran to the end records
        return {"framework": framework, "seed": seed, "status": "ok", "seconds": 1.0, "values": {}}

    monkeypatch.setattr(claims, "run_one", run_one)
    monkeypatch.setattr(claims, "digest", lambda path: "digest of " + path.stem)
    out = tmp_path / "claims-test.json"
    claims.main(["--chapters", stem, "--seeds", "0,1", "--jobs", "1", "--threads", "0", "--out", str(out)])
    sweep = results.read_claims(out)
    assert sweep.results["schema"] == results.CLAIMS_SCHEMA
    assert [(run["framework"], run["seed"]) for run in sweep.runs(stem)] == [
        ("torch", 0), ("torch", 1), ("keras", 0), ("keras", 1)]
    assert sweep.chapter(stem)["digest"] == "digest of " + stem


def test_load_claims_on_colab_downloads_only_the_claims_files(tmp_path, monkeypatch):
    sweep = small_sweep(tmp_path)
    listing = [{"name": "compare-x-quick.json"}, {"name": sweep.name}, {"name": "cpu-x.json"}]
    served = {results.listing_url(): json.dumps(listing).encode(), results.raw_url(sweep.name): sweep.read_bytes()}
    monkeypatch.setattr(results, "_fetch", lambda url: served[url])  # any other file asked for: KeyError
    monkeypatch.setattr(results, "search_folders", lambda: [tmp_path / "checkout"])
    monkeypatch.setattr(results, "cache_folder", lambda: tmp_path / "cache")
    loaded = results.load_claims(download=True)
    assert loaded.path == tmp_path / "cache" / sweep.name
    assert loaded.values("99_test", "a")[:3] == pytest.approx([0.6, 0.7, 0.8])


def test_load_claims_without_a_file_says_where_it_looked_and_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "search_folders", lambda: [tmp_path / "nowhere"])
    with pytest.raises(FileNotFoundError, match="nowhere.*python -m benchmarks.claims"):
        results.load_claims(download=False)


def test_the_spread_figure_draws_one_line_per_run_through_its_values_and_the_readers_run(tmp_path):
    sweep = results.read_claims(small_sweep(tmp_path))
    fig = viz.plot_seed_spread(sweep, "99_test", {"score": {"A": "a", "B": "b"}}, this_run={"a": 0.3, "b": 0.9})
    lines = fig.axes[0].get_lines()
    assert [tuple(line.get_ydata()) for line in lines[:-1]] == [
        pytest.approx((0.6 + 0.1 * s, 0.5 if f == "torch" else 0.75)) for f in ("torch", "keras") for s in (0, 1, 2)]
    assert tuple(lines[-1].get_ydata()) == (0.3, 0.9) and lines[-1].get_label() == "this run"
    assert len(viz.plot_seed_spread(sweep, "99_test", {"score": {"A": "a", "B": "b"}}).axes[0].get_lines()) == 6


def test_show_seed_spread_prints_how_often_a_claim_held_or_why_there_is_nothing_to_show(tmp_path, monkeypatch,
                                                                                    capsys):
    folder = small_sweep(tmp_path).parent
    monkeypatch.setattr(results, "search_folders", lambda: [folder])
    assert viz.show_seed_spread("99_test", {"score": {"A": "a", "B": "b"}}, claims=["a beats b"]) is not None
    out = capsys.readouterr().out
    assert "Test CPU" in out and "a beats b:\n    held in 4 of 6 runs; difference from -0.150 to +0.300" in out
    assert viz.show_seed_spread("01_other", {"score": {"A": "a"}}) is None
    assert "no spread to show" in capsys.readouterr().out
