"""Figures drawn without a display: a training run's, a strategy comparison's. Matplotlib and NumPy, no TensorFlow.

Importing this package imports nothing else: the command line reads some of its
modules before TensorFlow loads.
"""
