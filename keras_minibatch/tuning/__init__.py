"""Hyperparameter search on KerasTuner: the space, the tuners, trial records, distributed search, comparisons.

Importing this package imports nothing else: the command line reads some of its
modules before TensorFlow loads.
"""
