"""Data: sources, the checked `Dataset`, splits and input pipelines. Standard library and NumPy only, no TensorFlow.

Importing this package imports nothing else: the command line reads some of its
modules before TensorFlow loads.
"""
