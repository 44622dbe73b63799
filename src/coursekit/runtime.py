"""One call at the top of every chapter: :func:`setup`.

Taught in chapter 1 (Setup).  It decides three things once, so that no notebook
hard-codes them: which framework trains (``COURSEKIT_FRAMEWORK``), which profile
sizes the experiments (``COURSEKIT_PROFILE``) and which device runs them.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import random
import sys
from dataclasses import dataclass

import numpy as np

from . import smoke as _smoke
from .profiles import PROFILES, Settings, settings_for

FRAMEWORKS = ("torch", "keras")
_PACKAGE = {"torch": "torch", "keras": "tensorflow"}  # what each framework needs installed
PROFILE_CHOICES = ("auto",) + PROFILES


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


@contextlib.contextmanager
def _quiet_native_stderr():
    """Send what native code writes to stderr to /dev/null for a moment.

    TensorFlow's C++ start-up messages (oneDNN notes, "could not find CUDA
    drivers" on a CPU machine) ignore ``TF_CPP_MIN_LOG_LEVEL`` before its
    logging starts; they would fill every chapter's first output.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_tensorflow():
    """Import TensorFlow without its start-up noise, after memory growth is requested."""
    enable_tf_memory_growth()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with _quiet_native_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")  # initialises the devices inside the quiet window
    return tf


def enable_tf_memory_growth() -> bool:
    """Stop TensorFlow from reserving all GPU memory when it first sees a GPU.

    TensorFlow reads ``TF_FORCE_GPU_ALLOW_GROWTH`` when it initialises its GPUs,
    so setting the variable before TensorFlow starts costs nothing and needs no
    import.  If TensorFlow was imported already, growth is switched on through
    its API as well; that fails once a GPU is in use, and we say so.
    Returns True when growth is in force (or no GPU is involved).
    """
    os.environ["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
    if "tensorflow" not in sys.modules:
        return True
    import tensorflow as tf

    try:
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError as err:  # GPUs already initialised
        print(f"coursekit: TensorFlow memory growth could not be enabled ({err}); "
              "restart the runtime and call coursekit.setup() first.", file=sys.stderr)
        return False
    return True


def _gpu_visible(framework: str) -> bool:
    """Whether the chosen framework sees a CUDA GPU; the other framework is not imported."""
    if framework == "torch":
        import torch

        return torch.cuda.is_available()
    return bool(import_tensorflow().config.list_physical_devices("GPU"))


def _pick_device(framework: str) -> str:
    """``cuda`` for an NVIDIA GPU in both frameworks, ``mps`` for Apple's (torch), else ``cpu``."""
    if _gpu_visible(framework):
        return "cuda"
    if framework == "torch":
        import torch

        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
    return "cpu"


def seed_everything(seed: int, framework: str | None = None) -> None:
    """Seed Python, NumPy and the frameworks: ``framework`` and any already imported.

    :func:`setup` calls it with the chosen framework, so a torch chapter never
    imports TensorFlow nor a Keras chapter torch.  Called later without a
    framework (``coursekit.seed(run.seed)`` to start an experiment again), it
    seeds whichever of torch and TensorFlow the notebook has imported by then.
    """
    if framework is not None and framework not in FRAMEWORKS:
        raise ValueError(f"framework is {framework!r}; expected one of {', '.join(FRAMEWORKS)}")
    random.seed(seed)
    np.random.seed(seed)
    if framework == "torch" or "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)  # seeds every CUDA device too
    if framework == "keras" or "tensorflow" in sys.modules or "keras" in sys.modules:
        import_tensorflow()
        import keras

        keras.utils.set_random_seed(seed)


@dataclass(frozen=True)
class Run:
    """What :func:`setup` decided.  ``settings(name)`` gives an experiment's numbers.

    ``smoke``: smoke mode (``COURSEKIT_SMOKE=1``, see :mod:`coursekit.smoke`).  The
    settings are the profile's all the same: ``coursekit.train`` cuts the steps.
    """

    framework: str
    profile: str
    device: str
    seed: int
    smoke: bool = False

    def settings(self, experiment: str, profile: str | None = None) -> Settings:
        """The numbers of ``experiment`` in this run's profile, or in ``profile`` to quote the other one."""
        return settings_for(experiment, self.profile if profile is None else profile)

    @property
    def quick(self) -> bool:
        return self.profile == "quick"

    @property
    def frameworks(self) -> tuple[str, ...]:
        """The frameworks installed here, this run's first: what a chapter's side-by-side demo can show.

        A chapter runs with only its own framework installed; where it sets the two
        frameworks side by side, it loops over these and says what it skipped.
        """
        return (self.framework,) + tuple(f for f in FRAMEWORKS if f != self.framework and _installed(_PACKAGE[f]))


def _choose(value: str | None, env: str, default: str, allowed: tuple[str, ...]) -> str:
    chosen = value if value is not None else os.environ.get(env, default)
    chosen = chosen.strip().lower()
    if chosen not in allowed:
        source = "argument" if value is not None else f"environment variable {env}"
        raise ValueError(f"{source} is {chosen!r}; expected one of {', '.join(allowed)}")
    return chosen


def _choose_seed(value: int | None) -> int:
    if value is not None:
        return int(value)
    text = os.environ.get("COURSEKIT_SEED", "0").strip()
    try:
        seed = int(text)
    except ValueError:
        raise ValueError(f"environment variable COURSEKIT_SEED is {text!r}; expected a whole number such as 0, 1 "
                         "or 2") from None
    if seed < 0:
        raise ValueError(f"environment variable COURSEKIT_SEED is {seed}; expected a number of 0 or more")
    return seed


def setup(framework: str | None = None, profile: str | None = None, seed: int | None = None,
          verbose: bool = True) -> Run:
    """Prepare a chapter: framework, profile, device, seeds; print one line.

    Arguments win over the environment variables ``COURSEKIT_FRAMEWORK``
    (``torch`` by default, or ``keras``), ``COURSEKIT_PROFILE`` (``auto`` by
    default: ``full`` when the framework sees a CUDA GPU, ``quick`` otherwise) and
    ``COURSEKIT_SEED`` (``0`` by default).  The seed starts every random
    generator of the run (weights, shuffling, augmentation); the datasets
    themselves stay the same for every seed, so that two seeds differ only in
    the training's luck.

    Only the chosen framework is imported.  ``run.device`` is ``cuda`` on an
    NVIDIA GPU whichever framework trains (``mps`` on Apple's, with torch),
    else ``cpu``.  TensorFlow's memory growth is switched on before anything
    else, so that a notebook that uses both frameworks on one GPU leaves
    memory for torch.

    ``COURSEKIT_SMOKE=1`` (with ``COURSEKIT_PROFILE=full``) is smoke mode, for
    testing the full profile on a small machine: every training is cut to a
    couple of steps (see :mod:`coursekit.smoke`) and the line printed says so.
    """
    enable_tf_memory_growth()
    framework = _choose(framework, "COURSEKIT_FRAMEWORK", "torch", FRAMEWORKS)
    profile = _choose(profile, "COURSEKIT_PROFILE", "auto", PROFILE_CHOICES)
    needed = _PACKAGE[framework]
    if not _installed(needed):
        raise ImportError(f"framework {framework!r} needs the package {needed!r}, which is not installed")
    seed = _choose_seed(seed)
    if profile == "auto":
        profile = "full" if _gpu_visible(framework) else "quick"
    seed_everything(seed, framework)
    run = Run(framework=framework, profile=profile, device=_pick_device(framework), seed=seed,
              smoke=_smoke.enabled())
    if verbose:
        print(describe(run))
    return run


def describe(run: Run) -> str:
    """The one line :func:`setup` prints: versions, device, profile, framework."""
    versions = [f"coursekit {_version('coursekit') or 'dev'}"]
    versions += [f"{dist} {_version(dist)}" for dist in ("torch", "tensorflow", "keras")
                 if _version(dist) and _installed(dist)]
    chosen = [f"framework {run.framework}", f"device {run.device}", f"profile {run.profile}", f"seed {run.seed}"]
    if run.smoke:
        chosen.append(f"SMOKE MODE ({_smoke.EPOCHS} epoch of {_smoke.STEPS} steps a training; no result is real)")
    return ", ".join(chosen) + " | " + ", ".join(versions)
