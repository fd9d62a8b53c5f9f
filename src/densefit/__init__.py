"""densefit: Keras' ``Sequential``/``Dense``/``compile``/``fit`` on a compiled CPU core.

>>> from densefit import Sequential
>>> from densefit.layers import Dense
"""
from importlib.metadata import PackageNotFoundError, version as _version

from . import (activations, backend, callbacks, datasets, initializers, layers, losses, metrics,
               missing, models, optimizers, plot, reference, regularizers, utils)
from . import onnx  # ONNX export; the onnx package itself is imported on first use
from .layers import Input  # keras.Input, as the course labs write it
from .models import Sequential, load_model
from .utils import get_num_threads, set_num_threads

try:
    __version__ = _version("densefit")  # written once, in pyproject.toml
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "unknown"
__all__ = ["Sequential", "Input", "load_model", "get_num_threads", "set_num_threads", "activations",
           "backend", "callbacks", "datasets", "initializers", "layers", "losses", "metrics",
           "models", "optimizers", "reference", "regularizers", "utils", "plot"]
__all__ += ["onnx"]
__getattr__ = missing.module_getattr(__name__, globals())  # what densefit lacks, said as such
