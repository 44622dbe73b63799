"""Keras models of the course (channels last: ``N×H×W×C``)."""
