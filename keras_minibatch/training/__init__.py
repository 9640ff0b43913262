"""Training one model: the training core, its callbacks, checkpoints, evaluation and reports.

Importing this package imports nothing else: the command line reads some of its
modules before TensorFlow loads.
"""
