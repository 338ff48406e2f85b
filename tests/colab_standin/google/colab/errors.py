"""Like ``google.colab.errors``."""


class Error(Exception):
    """Base class of Colab's own errors."""
