"""Python runs this at start-up when this folder is on PYTHONPATH: it hides one framework, as if not installed.

``COURSEKIT_HIDE=torch`` hides torch (and torchvision); ``COURSEKIT_HIDE=tensorflow`` hides TensorFlow and
Keras.  Hidden means what a machine without the package shows: ``importlib.util.find_spec`` returns None and
``import`` raises ModuleNotFoundError.  The tests run chapters this way, in a kernel that inherits the variable,
to show that each chapter runs with only its own framework installed.
"""

import os
import sys
from importlib.machinery import PathFinder

_HIDDEN = {"torch": ("torch", "torchvision"), "tensorflow": ("tensorflow", "keras", "tf_keras")}
_hide = _HIDDEN.get(os.environ.get("COURSEKIT_HIDE", ""), ())


class _HidingPathFinder(PathFinder):
    """The standard finder of modules on sys.path, blind to the hidden packages."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.partition(".")[0] in _hide:
            return None
        return super().find_spec(name, path, target)


if _hide:
    sys.meta_path[:] = [_HidingPathFinder if finder is PathFinder else finder for finder in sys.meta_path]
