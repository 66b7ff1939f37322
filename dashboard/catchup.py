"""What a subscription covers, and what a viewer needs to catch up: pure code.

The hub answers a ``subscribe`` between two flushes with what this module
computes from the per-feed histories: a replay of exactly the points a
resuming viewer missed (for the feeds whose history still holds them, same
epoch), and a snapshot of everything held for the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dashboard.channel import Subscription
from dashboard.history import FeedHistory
from dashboard.protocol import Point, ProtocolError, Resume, Subscribe, quote_names
from feeds.base import FeedInfo


def feeds_of(subscription: Subscription, feeds: Mapping[str, FeedInfo]) -> list[str]:
    """The feeds a subscription covers, in registration order."""
    names = [n for n in feeds if subscription.feeds is None or n in subscription.feeds]
    if subscription.series is not None:
        names = [n for n in names if feeds[n].series_names & subscription.series]
    return names


def resolve(request: Subscribe, feeds: Mapping[str, FeedInfo]) -> tuple[Subscription, list[str]]:
    """The subscription *request* asks for and the feeds it covers; raises
    ProtocolError for feeds or series this server does not have."""
    if request.feeds is not None:
        unknown = sorted(request.feeds - feeds.keys())
        if unknown:
            raise ProtocolError("unknown_feed", f"unknown feed(s) {quote_names(unknown)}")
    subscription = Subscription(request.feeds, request.series)
    covered = feeds_of(subscription, feeds)
    if request.series is not None and not covered:
        missing = quote_names(request.series)
        raise ProtocolError("unknown_series", f"no subscribed feed has series {missing}")
    return subscription, covered


@dataclass(frozen=True)
class CatchUp:
    #: (feeds, points) to replay; None when the viewer did not ask to resume.
    #: A resume is always answered with a replay, even an empty one, so the
    #: client knows it was understood.
    replay: tuple[list[str], list[Point]] | None
    #: (feeds, points) to send whole; None when the replay covers everything.
    snapshot: tuple[list[str], list[Point]] | None
    #: The snapshot replaces what the viewer holds (it asked to resume).
    reset: bool


def catch_up(
    histories: Mapping[str, FeedHistory], epoch: str, feeds: list[str], resume: Resume | None
) -> CatchUp:
    replay: list[str] = []
    fresh = feeds
    if resume is not None and resume.epoch == epoch:
        replay = [f for f in feeds if f in resume.seqs and histories[f].can_resume(resume.seqs[f])]
        fresh = [f for f in feeds if f not in replay]
    replayed = None
    if resume is not None:
        replayed = (replay, [p for f in replay for p in histories[f].since(resume.seqs[f])])
    snapshot = None
    if fresh or resume is None:
        snapshot = (fresh, [p for f in fresh for p in histories[f].snapshot()])
    return CatchUp(replayed, snapshot, reset=resume is not None)
