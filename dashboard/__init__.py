"""The live data feed dashboard: server, hub and command line."""

from dashboard.app import create_app
from dashboard.config import DashboardConfig

__all__ = ["DashboardConfig", "create_app"]
