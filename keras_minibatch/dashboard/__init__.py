"""Serving TensorBoard on a run folder.

Importing this package imports nothing else: the command line reads some of its
modules before TensorFlow loads.
"""
