"""Real Keras programs ported to densefit by changing the import alone.

Each module is a well-known dense-network program (TensorFlow's Keras
tutorials, keras.io's guides, the ML specialization's neural-network labs)
with ``import tensorflow as tf`` / ``from tensorflow import keras`` replaced by
``import densefit as keras`` and its data made small (``_data``).  Each
defines ``main()`` returning the numbers tests/test_programs.py checks.
Swap the import back to ``import keras`` and the same file runs in Keras.
"""
