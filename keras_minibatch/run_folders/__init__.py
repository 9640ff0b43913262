"""Run folders: file names, markers, locks, atomic writes. Standard library only.

Importing this package imports nothing else: the command line reads some of its
modules before TensorFlow loads.
"""
