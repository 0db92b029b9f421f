"""MNIST-1D (Greydanus & Kobak, "Scaling down deep learning"): scitune's reference workload.

- ``data``: the data set, generated locally and cached; a fixed 3,600 / 400 train/dev split.
  The test set comes only from ``data.load_test()``.
- ``models``: the paper's MLP and CNN, width, depth and dropout configurable.
- ``train``: ``main(trial)``, the study entrypoint (``examples.mnist1d.train:main``), and
  ``evaluate_test``, the one place test data is used.

Importing this package is light; torch is imported by the submodules.
"""
