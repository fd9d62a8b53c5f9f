"""densefit: Keras' ``Sequential``/``Dense``/``compile``/``fit`` on a compiled CPU core.

>>> from densefit import Sequential
>>> from densefit.layers import Dense
"""
from . import (activations, callbacks, datasets, initializers, layers, losses, metrics, models,
               optimizers, reference, utils)
from .models import Sequential, load_model
from .utils import get_num_threads, set_num_threads

__version__ = "1.0.0"
__all__ = ["Sequential", "load_model", "get_num_threads", "set_num_threads", "activations", "callbacks", "datasets", "initializers",
           "layers", "losses", "metrics", "models", "optimizers", "reference", "utils"]
