"""Checkers for the chapters' exercises.

Each ``check_*`` function runs a student's function on hidden cases and
compares it with a reference.  On success it returns a short report; on the
first wrong answer it raises :class:`ExerciseFailed`, naming the input, the
expected value and what came back, never the reference code itself.
One module per chapter; the chapter that teaches each exercise is named in its
checker's docstring.  Notebooks call them as ``exercises.check_<name>``.
"""

from . import basics, comparison, fcn, medical, segnet, unet
from .basics import *  # noqa: F403
from .comparison import *  # noqa: F403
from .core import ExerciseFailed, NotChecked, Passed
from .fcn import *  # noqa: F403
from .medical import *  # noqa: F403
from .segnet import *  # noqa: F403
from .unet import *  # noqa: F403

__all__ = ["ExerciseFailed", "NotChecked", "Passed", *basics.__all__, *fcn.__all__, *segnet.__all__, *unet.__all__,
           *medical.__all__, *comparison.__all__]
