"""Data files shipped with the package (package data): the demo image."""
import os

#: The bundled demo image (made by experiments/make_sample_image.py).
SAMPLE_IMAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sample.png")
