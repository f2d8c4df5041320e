"""The installed version of dl-workshop, known to every layer without importing the package root."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dl-workshop")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"
