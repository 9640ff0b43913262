"""The command line: flags, commands and their one-line errors (a thin shell over the library).

Importing this package imports nothing else: the command line reads some of its
modules before TensorFlow loads.
"""
