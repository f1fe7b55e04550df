"""The file source: model records in JSON Lines, read incrementally from a file or a folder."""

from streamgauge.connectors.file.connector import FileConfig, FileConnector

__all__ = ["FileConfig", "FileConnector"]
