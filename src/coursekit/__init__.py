"""coursekit: the helper package of the course "Semantic segmentation, from FCN to U-Net".

Every chapter starts with ``run = coursekit.setup()``; the modules follow the
order in which the course teaches them:

* :mod:`coursekit.runtime`  -- ``setup()``: framework, profile, device, seeds
* :mod:`coursekit.profiles` -- the one table of sizes and epochs per profile
* :mod:`coursekit.data`     -- datasets (synthetic shapes, ...)
* :mod:`coursekit.metrics`  -- confusion matrix, pixel accuracy, IoU, Dice (NumPy)
* :mod:`coursekit.losses`   -- cross-entropy, BCE, soft Dice (torch and Keras)
* :mod:`coursekit.models`   -- the course's models in both frameworks
* :mod:`coursekit.train`    -- one ``fit``/``evaluate``/``predict`` for both frameworks
* :mod:`coursekit.colours`  -- the class palette the datasets carry and the pictures use
* :mod:`coursekit.viz`      -- overlays, grids, curves, the chapters' figures
* :mod:`coursekit.results`  -- the measured results chapters read (comparison, claims sweep)
* :mod:`coursekit.exercises` -- checkers for the chapters' exercises
"""

from typing import TYPE_CHECKING

from .runtime import Run, setup

if TYPE_CHECKING:  # for editors and linters; at run time __getattr__ below imports them on first use
    from .models import build
    from .runtime import seed_everything as seed
    from .train import evaluate, fit, predict

__version__ = "0.1.0"
__all__ = ["Run", "build", "evaluate", "fit", "predict", "seed", "setup", "show_source", "__version__"]

# The names a chapter uses most, at the top: coursekit.build(...), coursekit.fit(...).  They are looked up
# on first use, so that importing coursekit imports neither torch nor TensorFlow.
_SHORTCUTS = {"build": ("coursekit.models", "build"), "fit": ("coursekit.train", "fit"),
              "evaluate": ("coursekit.train", "evaluate"), "predict": ("coursekit.train", "predict"),
              "seed": ("coursekit.runtime", "seed_everything")}


def __getattr__(name: str):
    if name in _SHORTCUTS:
        import importlib

        module, attribute = _SHORTCUTS[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'coursekit' has no attribute {name!r}")


def show_source(obj):
    """Show the source code of a coursekit module, class or function in the notebook.

    Chapters use it to read a model file beside the prose that explains it.  ``obj``
    is the object itself, or its name as ``"coursekit.models.torch.unet:UNet.forward"``
    (module, colon, qualified name; the module alone for the whole file): a name is
    read from the file without importing it, so a chapter can show the PyTorch code
    where only TensorFlow is installed, and the other way round.
    """
    import inspect

    from IPython.display import Markdown

    source = _source_by_name(obj) if isinstance(obj, str) else inspect.getsource(obj)
    return Markdown(f"```python\n{source}```")


def _source_by_name(name: str) -> str:
    """The source of ``"coursekit.module.path:Qualified.name"``, read from coursekit's own files with ``ast``."""
    import ast
    from pathlib import Path

    module, _, qualname = name.partition(":")
    parts = module.split(".")
    if parts[0] != "coursekit":
        raise ValueError(f"show_source reads coursekit's own files by name; {name!r} is not in coursekit")
    base = Path(__file__).parent.joinpath(*parts[1:])
    path = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
    if not path.is_file():
        raise ValueError(f"show_source: no module {module!r} in coursekit ({path} does not exist)")
    text = path.read_text()
    if not qualname:
        return text
    node = ast.parse(text)
    for part in qualname.split("."):
        found = [child for child in getattr(node, "body", [])
                 if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and child.name == part]
        if not found:
            raise ValueError(f"show_source: {path.name} has no {qualname!r} (no {part!r} where it was looked for)")
        node = found[-1]  # as at run time: a later definition of the same name wins
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    return "".join(text.splitlines(keepends=True)[first - 1:node.end_lineno])
