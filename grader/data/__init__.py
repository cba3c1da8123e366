"""The classification sets of the training checks: scikit-learn's digits and Fashion-MNIST (IDX files)."""
