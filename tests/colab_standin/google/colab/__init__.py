"""A stand-in for Colab's ``google.colab`` package (see tests/colab_standin/README.md)."""
from google.colab import errors, userdata  # noqa: F401  (Colab imports its submodules at start-up too)
