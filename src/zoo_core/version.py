"""zoo's version, in a module of its own so that the modules it is read by import nothing above them."""

__version__ = "0.1.0"
