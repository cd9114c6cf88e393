"""gdsim: a pure-NumPy, autodiff-free optimizer simulator for teaching.

Everything here is written by hand in NumPy and cross-checked against Keras 3.
Heavy or optional modules (matplotlib plots, the Keras bridge) are imported lazily.
"""

__version__ = "0.1.0"
