"""Keras models of the course (channels last: ``N×H×W×C``)."""

from ...runtime import import_tensorflow

# Every module here imports keras; TensorFlow starts first through the quiet import, so that a torch
# chapter showing a Keras model's source gets no C++ start-up log in its output.
import_tensorflow()
