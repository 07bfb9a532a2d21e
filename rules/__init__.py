"""Detection: rule files, numba kernels, the rule engine and its reference implementations."""
