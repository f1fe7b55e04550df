"""Jira connector: Cloud and Data Center issues with their whole status history."""

from streamgauge.connectors.jira.connector import JiraConnector
from streamgauge.connectors.jira.report import UnmappedEntry, unmapped_report

__all__ = ["JiraConnector", "UnmappedEntry", "unmapped_report"]
