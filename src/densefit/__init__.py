"""densefit: Keras' Sequential/Dense/compile/fit on a compiled CPU core."""
from . import _core
