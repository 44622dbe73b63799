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
* :mod:`coursekit.viz`      -- palettes, overlays, grids, curves
* :mod:`coursekit.exercises` -- checkers for the chapters' exercises
"""

from .runtime import Run, setup

__version__ = "0.1.0"
__all__ = ["Run", "setup", "show_source", "__version__"]


def show_source(obj):
    """Show the source code of a coursekit module, class or function in the notebook.

    Chapters use it to read a model file beside the prose that explains it.
    """
    import inspect

    from IPython.display import Markdown

    source = inspect.getsource(obj)
    return Markdown(f"```python\n{source}```")
