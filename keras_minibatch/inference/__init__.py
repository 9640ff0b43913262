"""Using a trained model: classify image files as the training images were made (`predict`), export it for serving.

Import-free: see `prediction`, `export` and the modules they name.
"""
