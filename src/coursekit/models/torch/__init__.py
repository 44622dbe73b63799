"""PyTorch models of the course (channels first: ``N×C×H×W``)."""
