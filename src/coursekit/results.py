"""The course's measured results as the chapters read them: the architecture comparison and the claims sweep.

Chapters never type a measured number; they read files that commands of the
repository write into ``benchmarks/results``:

* ``python -m benchmarks.compare_architectures`` trains every model alike and
  writes ``compare-<machine>-<profile>.json`` with an ``.npz`` of predictions
  beside it; chapter 7 reads it with :func:`load_comparison`.
* ``python -m benchmarks.claims`` runs every chapter in the quick profile for
  seeds 0, 1 and 2 under both frameworks and writes ``claims-<machine>.json``;
  chapter 3 is the first to read it, with :func:`load_claims`, to show how much
  a result varies.

Both loaders look in the course's checkout (or ``./benchmarks/results``); on
Colab, where coursekit is installed without the repository, they download the
committed files from :data:`REPOSITORY`.  The writers import the schema
constants below, so that what they write is what is read here.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["CamVidRecipes", "CamVidSweep", "Comparison", "ComparisonFileError", "ResultsFileError", "Spread", "Sweep",
           "SweepFileError",
           "load_camvid_recipes", "load_camvid_sweep", "load_claims", "read_camvid_recipes",
           "read_camvid_sweep",
           "load_comparison", "model_label", "read_claims", "read_comparison"]

# The course's repository, as _config.yml names it for the book (a test keeps the two equal).  The package
# carries its own copy because on Colab it is pip-installed from git without _config.yml.
REPOSITORY = "https://github.com/semseg-course/semseg-course"
BRANCH = "main"
RESULTS = "benchmarks/results"

# --- The files' schemas, shared with their writers in benchmarks/ --------------------------------------

COMPARISON_PREFIX = "compare-"
COMPARISON_SCHEMA = 3  # 2: "miou" is called "mean_iou"; 3: every run has a "seed", settings list the "seeds"
COMPARISON_KEYS = ("schema", "date", "machine", "versions", "profile", "settings", "command", "load_average",
                   "baselines", "rows")
COMPARISON_ROW_KEYS = ("model", "framework", "seed", "status", "params", "seconds_per_epoch",
                       "inference_seconds_per_image", "peak_memory_mb", "peak_memory_kind",
                       "membrane_dice", "mean_iou", "boundary_f1")
# higher is better; a summary averages them (ISBI's first, then CamVid's)
COMPARISON_SCORES = ("membrane_dice", "cell_dice", "mean_iou", "boundary_f1", "pixel_accuracy", "mean_class_accuracy")
COMPARISON_BASELINE_KEYS = ("name", "membrane_dice", "mean_iou", "boundary_f1")
DEFAULT_INIT = "default-init"  # the variant whose FCN-8s starts from the framework's default initialiser
COMPARISON_SETTING_KEYS = ("image_size", "train_images", "width", "epochs", "batch_size", "lr", "loss", "seeds",
                           "classes", "palette", "data_source", "held_out_slices")
# The same models on CamVid (``--dataset camvid``): a part of the ISBI file under the key CAMVID, with its own
# settings, baselines and rows, and its arrays in the same .npz under names that begin CAMVID_PREFIX.
ISBI = "isbi2012"
CAMVID = "camvid"
CAMVID_PREFIX = "camvid__"
COMPARISON_CAMVID_ROW_KEYS = ("model", "framework", "seed", "status", "params", "seconds_per_epoch",
                              "inference_seconds_per_image", "peak_memory_mb", "peak_memory_kind",
                              "pixel_accuracy", "mean_class_accuracy", "mean_iou", "boundary_f1", "iou_per_class")
COMPARISON_CAMVID_BASELINE_KEYS = ("name", "pixel_accuracy", "mean_class_accuracy", "mean_iou", "boundary_f1")
COMPARISON_CAMVID_SETTING_KEYS = ("image_size", "image_height", "train_images", "val_images", "width", "epochs",
                                  "batch_size", "lr", "loss", "seeds", "classes", "palette", "data_source",
                                  "ignore_index")

CLAIMS_PREFIX = "claims-"
CLAIMS_SCHEMA = 1
CLAIMS_RUN_KEYS = ("framework", "seed", "status", "values")

CAMVID_SWEEP_PREFIX = "camvid-segnet-"
CAMVID_SWEEP_SCHEMA = 1
CAMVID_SWEEP_KEYS = ("schema", "date", "machine", "profile", "settings", "rows")
CAMVID_SWEEP_ROW_KEYS = ("framework", "seed", "balancing", "status")
CAMVID_SWEEP_SCORES = ("pixel_accuracy", "mean_class_accuracy", "mean_iou", "iou_per_class")

# changes to chapter 3's CamVid recipe, scored on a training drive held out (``python -m benchmarks.camvid_recipe``)
CAMVID_RECIPE_PREFIX = "camvid-recipe-"
CAMVID_RECIPE_SCHEMA = 1
CAMVID_RECIPE_KEYS = ("schema", "date", "machine", "settings", "held_out_drive", "variants", "rows", "complete")
CAMVID_RECIPE_ROW_KEYS = ("framework", "seed", "variant", "status")
CAMVID_RECIPE_SCORES = ("mean_iou", "pixel_accuracy", "mean_class_accuracy", "training_seconds")

# the full profile's smoke run (``python -m benchmarks.smoke``): pass/fail, time and memory per chapter and framework
SMOKE_PREFIX = "smoke-"
SMOKE_SCHEMA = 1

# files of benchmarks/results that are not runs of the benchmark suite (``python -m benchmarks``)
EXPERIMENT_PREFIXES = (COMPARISON_PREFIX, CLAIMS_PREFIX, CAMVID_SWEEP_PREFIX, CAMVID_RECIPE_PREFIX, SMOKE_PREFIX)


def comparison_file_name(machine_tag: str, profile: str, variant: str | None = None) -> str:
    """``compare-<machine tag>-<profile>[-<variant>].json``: the name the comparison writes and
    :func:`load_comparison` finds (``variant``: a changed experiment, such as :data:`DEFAULT_INIT`)."""
    return f"{COMPARISON_PREFIX}{machine_tag}-{profile}{_variant_suffix(variant)}.json"


def _variant_suffix(variant: str | None) -> str:
    return f"-{variant}" if variant else ""


def claims_file_name(machine_tag: str) -> str:
    """``claims-<machine tag>.json``: the name the claims sweep writes and :func:`load_claims` finds."""
    return f"{CLAIMS_PREFIX}{machine_tag}.json"


def camvid_sweep_file_name(machine_tag: str, profile: str) -> str:
    """``camvid-segnet-<machine tag>-<profile>.json``: what ``benchmarks.segnet_camvid`` writes."""
    return f"{CAMVID_SWEEP_PREFIX}{machine_tag}-{profile}.json"


def prediction_key(model: str, framework: str, seed: int) -> str:
    """The array of the comparison's ``.npz`` that holds one run's predictions."""
    return f"{model}__{framework}__seed{seed}"


class ResultsFileError(ValueError):
    """A results file that cannot be read as its command writes it; the message names the file and the fault."""


class ComparisonFileError(ResultsFileError):
    """A comparison file that is missing, unreadable, or lacks what the chapter reads."""


class SweepFileError(ResultsFileError):
    """A claims file that cannot be read as the sweep writes it."""


def _refuse(error: type[ResultsFileError], path, what: str):
    raise error(f"{path}: {what}")


def _read_json(path: Path, error: type[ResultsFileError]):
    if not path.exists():
        _refuse(error, path, "no such file")
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        _refuse(error, path, f"not valid JSON: {err}")


def _schema_fault(results: dict, schema: int) -> str | None:
    """What is wrong with a file's schema number, or ``None`` when this coursekit reads it."""
    if results.get("schema") != schema:
        return f"schema {results.get('schema')!r}, but this coursekit reads schema {schema}"
    return None


def _check_schema(path: Path, results: dict, schema: int, error: type[ResultsFileError]) -> None:
    fault = _schema_fault(results, schema)
    if fault:
        _refuse(error, path, fault)


def _check_runs_file(path: Path, results, *, keys: tuple, schema: int, row_keys: tuple, scores: tuple,
                     command: str) -> None:
    """A file of one benchmark's runs: an object with ``keys`` and this ``schema``, whose every row has
    ``row_keys``, and the ``scores`` too where it trained (``status`` ok); the first fault found is raised."""
    if not isinstance(results, dict):
        _refuse(ResultsFileError, path, f"expected a JSON object, found {type(results).__name__}")
    missing = [k for k in keys if k not in results]
    if missing:
        _refuse(ResultsFileError, path,
                f"missing the key(s) {', '.join(missing)}; is this a file written by python -m {command}?")
    _check_schema(path, results, schema, ResultsFileError)
    for number, row in enumerate(results["rows"], 1):
        missing = [k for k in row_keys + (scores if row.get("status") == "ok" else ()) if k not in row]
        if missing:
            _refuse(ResultsFileError, path, f"row {number} lacks {', '.join(missing)}")


# --- Where the files are: the checkout, else the repository on GitHub ----------------------------------


def search_folders() -> list[Path]:
    """Where results files are looked for: the checkout coursekit is imported from, then ``./benchmarks/results``."""
    import coursekit

    folders = [Path(coursekit.__file__).resolve().parents[2] / RESULTS, Path.cwd() / RESULTS]
    return list(dict.fromkeys(folders))


def raw_url(name: str) -> str:
    """The committed file ``benchmarks/results/<name>`` as GitHub serves it raw."""
    return f"{REPOSITORY.replace('https://github.com/', 'https://raw.githubusercontent.com/')}/{BRANCH}/{RESULTS}/{name}"


def listing_url() -> str:
    """GitHub's API listing of the committed ``benchmarks/results`` folder."""
    return f"{REPOSITORY.replace('https://github.com/', 'https://api.github.com/repos/')}/contents/{RESULTS}?ref={BRANCH}"


def cache_folder() -> Path:
    return Path.home() / ".coursekit" / "results"


def _fetch(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (a fixed https URL)
        return response.read()


def _date(path: Path) -> str:
    try:
        return str(json.loads(path.read_text()).get("date", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def _newest(paths: list[Path]) -> Path | None:
    """The file measured last (by its ``date``), whatever its machine."""
    return max(paths, key=_date) if paths else None


def _download(prefix: str, suffix: str, companions: tuple[str, ...] = ()) -> Path | None:
    """Every committed ``<prefix>*<suffix>`` (and its ``companions``: same stem, other suffixes) into
    :func:`cache_folder`; the newest of them, or None where the repository has none."""
    listing = json.loads(_fetch(listing_url()))
    names = sorted(item["name"] for item in listing
                   if item.get("name", "").startswith(prefix) and item["name"].endswith(suffix))
    folder = cache_folder()
    saved = []
    for name in names:
        folder.mkdir(parents=True, exist_ok=True)
        for file in (name, *(name.removesuffix(".json") + companion for companion in companions)):
            (folder / file).write_bytes(_fetch(raw_url(file)))
        saved.append(folder / name)
    return _newest(saved)


def _locate(prefix: str, suffix: str, download: bool, tried: list[str],
            companions: tuple[str, ...] = ()) -> Path | None:
    """The newest ``<prefix>*<suffix>`` of the search folders, else (when ``download``) of the repository.

    Where it looked, and why a download failed, is added to ``tried`` for the caller's error.
    """
    path = _newest([p for folder in search_folders() for p in sorted(folder.glob(f"{prefix}*{suffix}"))])
    if path is None and download:
        tried.append(listing_url())
        try:
            path = _download(prefix, suffix, companions)
        except (OSError, ValueError) as err:  # offline, or GitHub refused: the caller's error says so
            tried[-1] += f" ({err})"
    return path


def _find(prefix: str, suffix: str, download: bool | None, what: str, command: str) -> Path:
    """The newest ``<prefix>*<suffix>`` as :func:`_locate` finds it (``download``: default only on Colab); where
    there is none, a ``FileNotFoundError`` naming ``what`` is missing, where it looked, and the command that
    makes one."""
    tried = [str(folder) for folder in search_folders()]
    path = _locate(prefix, suffix, _download_by_default(download), tried)
    if path is None:
        raise FileNotFoundError(f"no {what} ({prefix}*{suffix}) in " + "; ".join(tried)
                                + f". Run python -m {command} in the course repository to make one.")
    return path


def _download_by_default(download: bool | None) -> bool:
    return "google.colab" in sys.modules if download is None else download


# --- The architecture comparison (chapter 7) ----------------------------------------------------------

_NAMES = {"fcn8s": "FCN-8s", "segnet": "SegNet", "unet": "U-Net", "unet_bn": "U-Net (BN)",
          "resnet34_unet": "ResNet34-U-Net", "mobilenet_unet": "MobileNet-U-Net", "vgg_segnet": "VGG-SegNet",
          "fcn16s": "FCN-16s", "fcn32s": "FCN-32s"}


def model_label(model: str) -> str:
    """The name chapter 7 uses for a model (``unet_bn`` -> ``U-Net (BN)``)."""
    return _NAMES.get(model, model)


@dataclass(frozen=True)
class Spread:
    """One number over the seeds of an experiment: its values, their mean, lowest and highest."""

    values: tuple[float, ...]

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else float("nan")

    @property
    def low(self) -> float:
        return min(self.values) if self.values else float("nan")

    @property
    def high(self) -> float:
        return max(self.values) if self.values else float("nan")

    def format(self, spec: str = ".3f") -> str:
        """``0.781 (0.770–0.790)``: the mean, then the lowest and highest; one value alone when there is one."""
        if len(self.values) == 1:
            return format(self.values[0], spec)
        return f"{self.mean:{spec}} ({self.low:{spec}}–{self.high:{spec}})"


@dataclass
class Comparison:
    """One results file of the comparison and its predictions.

    ``profile`` is the profile the file was measured in; ``requested`` the one
    asked for (they differ when the full profile has no file yet and the
    quick one stands in: ``fell_back``).
    """

    path: Path
    results: dict
    predictions: dict = field(repr=False)
    requested: str | None = None

    @property
    def profile(self) -> str:
        return self.results["profile"]

    @property
    def fell_back(self) -> bool:
        return self.requested is not None and self.requested != self.profile

    @property
    def settings(self) -> dict:
        return self.results["settings"]

    @property
    def dataset(self) -> str:
        """Which data these runs trained on: :data:`ISBI` (the file's own runs) or :data:`CAMVID` (its part)."""
        return self.results.get("dataset", ISBI)

    @property
    def datasets(self) -> list[str]:
        """The datasets the file holds runs of: ISBI 2012, and CamVid where its part has been run."""
        return [ISBI, *([CAMVID] if CAMVID in self.results else [])]

    def on(self, dataset: str) -> Comparison:
        """The same models on ``dataset``, with this class's methods: ``comparison.on("camvid").rows()``."""
        if dataset == self.dataset:
            return self
        if dataset not in self.datasets:
            raise KeyError(f"{self.path.name} has no runs on {dataset!r}; it has {self.datasets}"
                           + (". Run python -m benchmarks.compare_architectures --dataset camvid to add them"
                              if dataset == CAMVID else ""))
        arrays = {k.removeprefix(CAMVID_PREFIX): v for k, v in self.predictions.items() if k.startswith(CAMVID_PREFIX)}
        return Comparison(self.path, self.results[CAMVID], arrays, self.requested)

    @property
    def baselines(self) -> dict:
        return {b["name"]: b for b in self.results["baselines"]}

    def rows(self, framework: str | None = None, seed: int | None = None) -> list[dict]:
        """The runs that trained (``status`` ok): all of them, or of one framework and/or one seed."""
        return [r for r in self.results["rows"] if r["status"] == "ok"
                and (framework is None or r["framework"] == framework) and (seed is None or r["seed"] == seed)]

    def failed(self) -> list[dict]:
        return [r for r in self.results["rows"] if r["status"] != "ok"]

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(r["model"] for r in self.rows()))

    @property
    def frameworks(self) -> list[str]:
        return list(dict.fromkeys(r["framework"] for r in self.rows()))

    @property
    def seeds(self) -> list[int]:
        """The seeds the experiment was repeated with, in the order they ran."""
        return list(dict.fromkeys(r["seed"] for r in self.results["rows"]))

    def runs(self, model: str, framework: str) -> list[dict]:
        """One model's trained runs in one framework, one per seed."""
        found = [r for r in self.rows(framework) if r["model"] == model]
        if not found:
            raise KeyError(f"{self.path.name} has no trained run of {model!r} in {framework!r}; "
                           f"it has {sorted({(r['model'], r['framework']) for r in self.rows()})}")
        return found

    def row(self, model: str, framework: str, seed: int | None = None) -> dict:
        """One run.  ``seed`` may be left out only when the file has one seed: a single run of several
        is an anecdote, and :meth:`spread` summarises them all."""
        found = self.runs(model, framework)
        if seed is None:
            if len(self.seeds) > 1:
                raise ValueError(f"{self.path.name} has seeds {self.seeds}: say which with seed=, "
                                 "or use spread() for all of them")
            return found[0]
        for r in found:
            if r["seed"] == seed:
                return r
        raise KeyError(f"{self.path.name}: {model!r} in {framework!r} has no trained run with seed {seed}; "
                       f"seeds {[r['seed'] for r in found]}")

    def spread(self, model: str, framework: str, key: str) -> Spread:
        """``key`` (a score, a time, ...) over the model's trained runs in ``framework``, one per seed."""
        return Spread(tuple(float(r[key]) for r in self.runs(model, framework) if r.get(key) is not None))

    def summary(self, model: str, framework: str) -> dict:
        """One model in one framework over its seeds: each score's mean, each cost's median (a time or a
        memory peak is a typical run, not a mean that one slow run drags), ``runs`` how many."""
        runs = self.runs(model, framework)
        out = {"model": model, "framework": framework, "runs": len(runs)}
        for key, value in runs[0].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "seed":
                values = [r[key] for r in runs if r.get(key) is not None]
                middle = np.mean if key in COMPARISON_SCORES else np.median
                out[key] = float(middle(values)) if values else None
        out["params"] = runs[0]["params"]
        return out

    def summaries(self, framework: str) -> list[dict]:
        """:meth:`summary` of every model trained in ``framework``, in the file's order."""
        return [self.summary(model, framework) for model in self.models
                if any(r["model"] == model for r in self.rows(framework))]

    def winners(self, framework: str, key: str, best=max) -> dict[int, str]:
        """For each seed, the model whose run has the ``best`` (``max`` or ``min``) ``key`` in ``framework``."""
        return {seed: best(runs, key=lambda r: r[key])["model"]
                for seed in self.seeds if (runs := [r for r in self.rows(framework, seed) if r.get(key) is not None])}

    def prediction(self, model: str, framework: str, seed: int | None = None) -> np.ndarray:
        """One run's predicted label images of the shown crops (``seed``: the first seed by default)."""
        return self.predictions[prediction_key(model, framework, self.seeds[0] if seed is None else seed)]

    def describe(self) -> str:
        """Where, when and how the numbers were measured, in one paragraph."""
        m, v, s = self.results["machine"], self.results["versions"], self.settings
        gpu = m.get("gpu")
        hardware = f"GPU {gpu['name']}" if gpu else f"CPU {m['cpu']}, {m['cores']} cores, no GPU"
        load = self.results["load_average"]
        loads = " and ".join(f"{when} {values[0]:.1f}" for when, values in load.items() if values)
        loads = loads or "start: not recorded"
        lines = [f"{self.path.name}: profile {self.profile}",
                 f"measured {self.results['date'][:16].replace('T', ' ')} UTC,", f"on {hardware}",
                 f"torch {v.get('torch')}, TensorFlow {v.get('tensorflow')}, Keras {v.get('keras')}",
                 f"threads per process: {self.results.get('threads')}; load average (1 min) at {loads}",
                 self._data_line(s),
                 f"{s['epochs']} epochs, batch {s['batch_size']}, lr {s['lr']} ({s.get('schedule')}), "
                 f"loss {s['loss']}, width {s['width']},",
                 f"seeds {', '.join(map(str, s['seeds']))}"]
        if self.fell_back:
            lines.insert(0, f"no {self.requested}-profile results yet: showing the {self.profile} profile's")
        return "\n".join(lines)

    def _data_line(self, s: dict) -> str:
        if self.dataset == CAMVID:
            return (f"data: CamVid ({s['data_source']}), {s['train_images']} training frames at "
                    f"{s['image_height']}×{s['image_size']} px,\nscored on {s['val_images']} test frames "
                    "(void ignored);")
        return (f"data: ISBI 2012 ({s['data_source']}), held-out slices {s['held_out_slices'][0]}.."
                f"{s['held_out_slices'][-1]};\n{s['train_images']} tiles of {s['image_size']} px per epoch,")


def _check_comparison(path: Path, results, part: str | None = None) -> None:
    """Check the file's ISBI runs, then its CamVid ``part`` where it has one (a fault there is named so)."""
    def fail(what):
        _refuse(ComparisonFileError, path, f"its {CAMVID} part: {what}" if part else what)

    if not isinstance(results, dict):
        fail(f"expected a JSON object, found {type(results).__name__}")
    missing = [k for k in COMPARISON_KEYS if k not in results]
    if missing:
        fail(f"missing the key(s) {', '.join(missing)}; is this a file written by "
             "python -m benchmarks.compare_architectures?")
    if fault := _schema_fault(results, COMPARISON_SCHEMA):
        fail(fault)
    setting_keys, row_keys, baseline_keys = (
        (COMPARISON_CAMVID_SETTING_KEYS, COMPARISON_CAMVID_ROW_KEYS, COMPARISON_CAMVID_BASELINE_KEYS) if part
        else (COMPARISON_SETTING_KEYS, COMPARISON_ROW_KEYS, COMPARISON_BASELINE_KEYS))
    missing = [k for k in setting_keys if k not in results["settings"]]
    if missing:
        fail(f"settings lack {', '.join(missing)}")
    if not isinstance(results["rows"], list) or not results["rows"]:
        fail("no rows: no model was measured")
    for number, row in enumerate(results["rows"], 1):
        ok = row.get("status") == "ok"
        needed = row_keys if ok else ("model", "framework", "seed", "status")
        # a trained row has every number; only the peak memory may be unknown (no /proc, no GPU counter)
        missing = [k for k in needed if k not in row or (ok and row[k] is None and k != "peak_memory_mb")]
        if missing:
            fail(f"row {number} ({row.get('model')}, {row.get('framework')}) lacks {', '.join(missing)}")
    runs = [(row["model"], row["framework"], row["seed"]) for row in results["rows"]]
    repeated = sorted({run for run in runs if runs.count(run) > 1})
    if repeated:
        fail(f"the same (model, framework, seed) twice: {repeated}")
    if not any(row["status"] == "ok" for row in results["rows"]):
        fail("no row trained successfully; statuses: " + "; ".join(r["status"] for r in results["rows"]))
    for number, baseline in enumerate(results["baselines"], 1):
        missing = [k for k in baseline_keys if k not in baseline]
        if missing:
            fail(f"baseline {number} lacks {', '.join(missing)}")
    if part is None and CAMVID in results:
        _check_comparison(path, results[CAMVID], CAMVID)


def _read_predictions(path: Path, results: dict) -> dict:
    def fail(what):
        _refuse(ComparisonFileError, path, what)

    if not path.exists():
        fail("the predictions file beside the results is missing (the .npz with the same stem)")
    try:
        with np.load(path) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (OSError, ValueError) as err:
        fail(f"not a readable .npz: {err}")
    parts = [("", results, ("slices", "window"))]
    if CAMVID in results:  # the CamVid frames are RGB: only their truth and predictions share one shape
        parts.append((CAMVID_PREFIX, results[CAMVID], (CAMVID_PREFIX + "images",)))
    for prefix, part, unlike in parts:
        mine = {k: v for k, v in arrays.items() if k.startswith(CAMVID_PREFIX) == bool(prefix)}
        missing = [k for k in (prefix + "images", prefix + "truth") if k not in mine]
        missing += [key for r in part["rows"] if r["status"] == "ok"
                    and (key := prefix + prediction_key(r["model"], r["framework"], r["seed"])) not in mine]
        if missing:
            fail(f"missing the array(s) {', '.join(missing)}")
        shapes = {k: v.shape for k, v in mine.items() if k not in unlike}
        if len(set(shapes.values())) != 1:
            fail(f"the {'CamVid truth' if prefix else 'images, truth'} and predictions differ in shape: {shapes}")
    return arrays


def read_comparison(path, requested: str | None = None) -> Comparison:
    """Read and check one results file and the ``.npz`` beside it; a clear error names what is wrong."""
    path = Path(path)
    results = _read_json(path, ComparisonFileError)
    _check_comparison(path, results)
    return Comparison(path, results, _read_predictions(path.with_suffix(".npz"), results), requested)


def load_comparison(profile: str | None = None, *, variant: str | None = None,
                    download: bool | None = None) -> Comparison:
    """The comparison's results for ``profile`` (default ``quick``), or the quick profile's where there are none.

    ``variant`` asks for a changed experiment instead of the main one (:data:`DEFAULT_INIT`:
    FCN-8s from the framework's default initialiser, ``--default-init``).  Looks in the
    course checkout and ``./benchmarks/results``; then, when ``download`` is true (default:
    only on Colab), in the repository on GitHub.  ``.fell_back`` says whether the quick
    profile stood in for the one asked for.
    """
    profile = profile or "quick"
    download = _download_by_default(download)
    tried = [str(folder) for folder in search_folders()]
    ending = _variant_suffix(variant) + ".json"
    for candidate in dict.fromkeys((profile, "quick")):
        path = _locate(COMPARISON_PREFIX, f"-{candidate}{ending}", download, tried, companions=(".npz",))
        if path is not None:
            return read_comparison(path, requested=profile)
    option = " --default-init" if variant == DEFAULT_INIT else ""
    raise FileNotFoundError(f"no comparison results ({COMPARISON_PREFIX}*-{profile}{ending} or "
                            f"{COMPARISON_PREFIX}*-quick{ending}) in " + "; ".join(tried)
                            + f". Run python -m benchmarks.compare_architectures{option} in the course repository "
                              "to make them.")


# --- The claims sweep (chapters 3 on) -----------------------------------------------------------------


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


def read_claims(path) -> Sweep:
    """Read and check one claims file; a malformed one raises :class:`SweepFileError` naming it."""
    path = Path(path)

    def fail(what):
        _refuse(SweepFileError, path, what)

    results = _read_json(path, SweepFileError)
    if not isinstance(results, dict) or not isinstance(results.get("chapters"), dict):
        fail("no 'chapters' object: not a file written by python -m benchmarks.claims")
    _check_schema(path, results, CLAIMS_SCHEMA, SweepFileError)
    for stem, entry in results["chapters"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("runs"), list) or "claims" not in entry:
            fail(f"chapter {stem!r} lacks 'runs' or 'claims'")
        for run in entry["runs"]:
            missing = [key for key in CLAIMS_RUN_KEYS if key not in run]
            if missing:
                fail(f"a run of chapter {stem!r} lacks {', '.join(missing)}")
    return Sweep(path, results)


def load_claims(*, download: bool | None = None) -> Sweep:
    """The newest claims file of the course checkout (or ``./benchmarks/results``), else the repository's.

    ``download`` (default: only on Colab) allows fetching the committed file.
    Raises ``FileNotFoundError`` saying where it looked and how to make one.
    """
    return read_claims(_find(CLAIMS_PREFIX, ".json", download, "claims sweep", "benchmarks.claims"))


# --- SegNet on CamVid with and without class balancing (chapter 3) -------------------------------------


def _paired_by_run(score: str, left: list[dict], right: list[dict]) -> list[float]:
    """``left - right`` of one score, row by row, where both rows were trained with the same framework and seed."""
    right_of = {(r["framework"], r["seed"]): r[score] for r in right}
    return [r[score] - right_of[(r["framework"], r["seed"])] for r in left if (r["framework"], r["seed"]) in right_of]


@dataclass
class CamVidSweep:
    """One file of ``benchmarks.segnet_camvid``: SegNet trained on CamVid per framework, seed and balancing."""

    path: Path
    results: dict

    @property
    def settings(self) -> dict:
        return self.results["settings"]

    def rows(self, balancing: str | None = None, decoder: str = "segnet") -> list[dict]:
        """The runs that trained (``status`` ok) with one decoder (SegNet's own unless named), of one kind of
        balancing or of all, torch before Keras, by seed."""
        return [r for r in self.results["rows"] if r["status"] == "ok" and balancing in (None, r["balancing"])
                and r.get("decoder", "segnet") == decoder]

    def values(self, balancing: str, score: str, decoder: str = "segnet") -> list[float]:
        """One score over the runs of one kind of balancing and one decoder, in :meth:`rows` order."""
        return [row[score] for row in self.rows(balancing, decoder)]

    def paired(self, score: str, left: str, right: str) -> list[float]:
        """``left - right`` of one score, run by run, where both were trained with the same framework and seed:
        two kinds of balancing, with SegNet's own decoder."""
        return _paired_by_run(score, self.rows(left), self.rows(right))

    def decoders_paired(self, score: str, left: str, right: str, framework: str | None = None) -> list[float]:
        """``left - right`` of one score for two decoders trained with plain cross-entropy, run by run (of one
        framework where it is named)."""
        return _paired_by_run(score, [r for r in self.rows("none", left) if framework in (None, r["framework"])],
                              self.rows("none", right))

    def describe(self) -> str:
        """Where, when and how the runs were measured, in one line."""
        m, s = self.results["machine"], self.settings
        trained = sum(row["status"] == "ok" for row in self.results["rows"])
        return (f"{self.path.name}\n{trained} runs on {m.get('cpu', '?')} ({m.get('cores', '?')} cores), "
                f"{self.results['date'][:10]}\nSegNet width {s['width']}, {s['image_height']}×{s['image_size']} px, "
                f"{s['epochs']} epochs, batch {s['batch_size']}, lr {s['lr']} ({s['schedule']})")


def read_camvid_sweep(path) -> CamVidSweep:
    """Read and check one file of ``benchmarks.segnet_camvid``; a malformed one raises an error naming it."""
    path = Path(path)
    results = _read_json(path, ResultsFileError)
    _check_runs_file(path, results, keys=CAMVID_SWEEP_KEYS, schema=CAMVID_SWEEP_SCHEMA, row_keys=CAMVID_SWEEP_ROW_KEYS,
                     scores=CAMVID_SWEEP_SCORES, command="benchmarks.segnet_camvid")
    return CamVidSweep(path, results)


def load_camvid_sweep(profile: str = "quick", *, download: bool | None = None) -> CamVidSweep:
    """The newest ``camvid-segnet-*-<profile>.json`` of the checkout (or ``./benchmarks/results``), else the
    repository's (``download``: default only on Colab).  Chapter 3 reads it."""
    return read_camvid_sweep(_find(CAMVID_SWEEP_PREFIX, f"-{profile}.json", download, "CamVid sweep",
                                   "benchmarks.segnet_camvid"))


# --- Changes to SegNet's CamVid recipe, validated on a held-out drive (chapter 3) -----------------------


@dataclass
class CamVidRecipes:
    """One file of ``benchmarks.camvid_recipe``: SegNet trained on CamVid's training frames but one drive's, with
    the chapter's recipe and with one thing of it changed (a *variant*), scored on the drive held out."""

    path: Path
    results: dict

    @property
    def held_out_drive(self) -> str:
        return self.results["held_out_drive"]

    def variants(self) -> list[str]:
        """The variants of the file that have runs, the chapter's own recipe first."""
        named = [name for name in self.results["variants"] if self.rows(name)]
        return sorted(named, key=lambda name: name != "recipe")

    def rows(self, variant: str) -> list[dict]:
        """The runs of one variant that trained (``status`` ok)."""
        return [r for r in self.results["rows"] if r["status"] == "ok" and r["variant"] == variant]

    def values(self, variant: str, score: str) -> list[float]:
        return [row[score] for row in self.rows(variant)]

    def gains(self, variant: str, score: str = "mean_iou") -> list[float]:
        """``variant - recipe`` of one score, run by run, where both trained with the same framework and seed."""
        return _paired_by_run(score, self.rows(variant), self.rows("recipe"))

    def table(self) -> str:
        """Each variant's mean scores (mIoU with its range; global and class average accuracy), its mean training
        time in seconds, and, against the recipe's run of the same framework and seed, in how many runs its mIoU
        was higher and the lowest and highest difference."""
        lines = [f"{'variant':>9}{'runs':>5}{'mIoU (range)':>21}{'acc.':>7}{'cl. acc.':>9}{'s/run':>6}"
                 "  vs the recipe"]
        for variant in self.variants():
            miou, gains = self.values(variant, "mean_iou"), self.gains(variant)
            versus = "" if variant == "recipe" or not gains else \
                f"  {sum(g > 0 for g in gains)}/{len(gains)} {min(gains):+.3f}..{max(gains):+.3f}"
            lines.append(f"{variant:>9}{len(miou):>5}{np.mean(miou):>7.3f} ({min(miou):.3f}-{max(miou):.3f})"
                         f"{np.mean(self.values(variant, 'pixel_accuracy')):>7.3f}"
                         f"{np.mean(self.values(variant, 'mean_class_accuracy')):>9.3f}"
                         f"{np.mean(self.values(variant, 'training_seconds')):>6.0f}{versus}")
        return "\n".join(lines)

    def describe(self) -> str:
        """Where, when and how the runs were measured."""
        m, s = self.results["machine"], self.results["settings"]
        rows = [r for r in self.results["rows"] if r["status"] == "ok"]
        trained_on = rows[0]["trained_on"] if rows else "?"
        scored_on = rows[0]["scored_on"] if rows else "?"
        return (f"{self.path.name}\n{len(rows)} runs on {m.get('cpu', '?')} ({m.get('cores', '?')} cores), "
                f"{self.results['date'][:10]}\ntrained on {trained_on} frames, scored on the {scored_on} of drive "
                f"{self.held_out_drive}\nthe recipe: SegNet width {s['width']}, {s['image_height']}×{s['image_size']} "
                f"px, {s['epochs']} epochs, batch {s['batch_size']}, lr {s['lr']} ({s['schedule']})")


def read_camvid_recipes(path) -> CamVidRecipes:
    """Read and check one file of ``benchmarks.camvid_recipe``; a malformed one raises an error naming it."""
    path = Path(path)
    results = _read_json(path, ResultsFileError)
    _check_runs_file(path, results, keys=CAMVID_RECIPE_KEYS, schema=CAMVID_RECIPE_SCHEMA,
                     row_keys=CAMVID_RECIPE_ROW_KEYS, scores=CAMVID_RECIPE_SCORES, command="benchmarks.camvid_recipe")
    for number, row in enumerate(results["rows"], 1):
        if row["variant"] not in results["variants"]:
            _refuse(ResultsFileError, path,
                    f"row {number} is of the variant {row['variant']!r}, which the file's 'variants' does not list")
    return CamVidRecipes(path, results)


def load_camvid_recipes(*, download: bool | None = None) -> CamVidRecipes:
    """The newest ``camvid-recipe-*-quick.json`` of the checkout (or ``./benchmarks/results``), else the
    repository's (``download``: default only on Colab).  Chapter 3 reads it."""
    return read_camvid_recipes(_find(CAMVID_RECIPE_PREFIX, "-quick.json", download, "file of CamVid recipe runs",
                                     "benchmarks.camvid_recipe"))
