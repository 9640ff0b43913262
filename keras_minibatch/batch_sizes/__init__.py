"""The `compare` command: full-batch, SGD and mini-batch regimes on one clock.

Importing this package imports nothing else: the command line reads some of its
modules before TensorFlow loads.
"""
