"""Plain-Python references of the kernels: same module names, same signatures, same results."""
