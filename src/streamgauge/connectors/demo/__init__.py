"""The demo source: a simulated toolchain, deterministic from a seed, that needs no credentials."""

from streamgauge.connectors.demo.config import DemoConfig
from streamgauge.connectors.demo.connector import DemoConnector

__all__ = ["DemoConfig", "DemoConnector"]
