"""numba kernels, one module per rule kind; each has a plain-Python twin in rules.reference."""
