"""Pictures for the course: masks, overlays, training curves, and the figures that explain each architecture.

``core`` (chapter 1) draws images, masks and training; ``fcn``, ``segnet``,
``unet``, ``medical`` and ``comparison`` hold the figures of chapters 2 to 7.  Notebooks call them all as
``viz.<name>``.
"""

from . import comparison, core, fcn, medical, segnet, unet
from .comparison import *  # noqa: F403
from .core import *  # noqa: F403
from .fcn import *  # noqa: F403
from .medical import *  # noqa: F403
from .segnet import *  # noqa: F403
from .unet import *  # noqa: F403

__all__ = [*core.__all__, *fcn.__all__, *segnet.__all__, *unet.__all__, *medical.__all__, *comparison.__all__]
