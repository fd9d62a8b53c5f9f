"""Datasets in Keras' ``((x_train, y_train), (x_test, y_test))`` form.

``load_digits()`` uses the small 8x8 digits set bundled with the package.
``load_mnist()`` reads the original MNIST files from disk; densefit never
downloads anything.  ``mnist``, ``fashion_mnist`` and ``boston_housing`` are
Keras' ``keras.datasets`` modules: their ``load_data()`` reads the file Keras
downloads, from a path or Keras' own cache.
"""
from .. import missing
from . import boston_housing, fashion_mnist, mnist
from .originals import MNIST_SHA256, load_digits, load_mnist, read_idx

__all__ = ["load_digits", "load_mnist", "read_idx", "MNIST_SHA256", "mnist", "fashion_mnist",
           "boston_housing"]
__getattr__ = missing.module_getattr(__name__, globals())  # what densefit lacks, said as such
