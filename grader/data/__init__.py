"""The classification sets of the training checks: scikit-learn's digits and Fashion-MNIST (IDX files)."""

# The names of the sets and the environment variable naming a folder of Fashion-MNIST files: here, where the
# front ends' options read them for their help without importing NumPy (grader.data.datasets loads the sets).
NAMES = ("digits", "fashion-mnist")
DATA_DIR_ENV = "DL_BASICS_DATA_DIR"
