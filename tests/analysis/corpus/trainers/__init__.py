"""Trainers of the validation corpus other than MNIST-1D's (``examples/mnist1d/train.py``)."""
