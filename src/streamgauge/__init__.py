"""streamgauge: DORA and flow metrics from the tools a delivery team already uses."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("streamgauge")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
