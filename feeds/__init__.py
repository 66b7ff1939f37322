"""Feed sources and the plugin API.

A feed source describes itself with a :class:`FeedInfo` and produces values
from an async iterator. This package knows nothing of WebSockets or Quart: the
dashboard runs sources and moves their points.
"""

from feeds.api import Feed, FunctionFeed, feed
from feeds.base import BREAK, FeedFailed, FeedInfo, FeedSource, KeptPoint, Series, Skipped
from feeds.ticker import DEFAULT_SYMBOLS, TickerFeed, TickerParams, ticker_feeds

__all__ = [
    "BREAK",
    "FeedFailed",
    "KeptPoint",
    "Skipped",
    "DEFAULT_SYMBOLS",
    "Feed",
    "FunctionFeed",
    "feed",
    "FeedInfo",
    "FeedSource",
    "Series",
    "TickerFeed",
    "TickerParams",
    "ticker_feeds",
]
