"""Simulated stock tickers: geometric Brownian motion, one feed per symbol."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass

from feeds.base import FeedInfo, KeptPoint, Series

DEFAULT_SYMBOLS: tuple[str, ...] = (
    "ACME",
    "GLOBX",
    "INITECH",
    "UMBRL",
    "STARK",
    "WAYNE",
    "TYRELL",
    "CYBRD",
)

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class TickerParams:
    """How a simulated price walks.

    ``drift`` and ``volatility`` are per hour of wall-clock time (not per year
    as in finance) so that a few minutes on the dashboard show visible moves:
    with the default volatility of 5 %/sqrt(hour) a price moves about 0.65 %
    in a minute.
    """

    rate: float = 10.0  # updates per second
    drift: float = 0.0  # expected log-return per hour
    volatility: float = 0.05  # standard deviation of log-return per sqrt(hour)
    tick_size: float = 0.01  # prices are multiples of this
    lot_size: int = 100  # volumes are multiples of this
    mean_lots: float = 5.0  # mean lots traded per update

    def __post_init__(self) -> None:
        if not (self.rate > 0 and math.isfinite(self.rate)):
            raise ValueError(f"rate must be a positive number of updates/second, not {self.rate}")
        if self.volatility < 0 or not math.isfinite(self.volatility):
            raise ValueError(f"volatility must be >= 0, not {self.volatility}")
        if not math.isfinite(self.drift):
            raise ValueError(f"drift must be finite, not {self.drift}")
        if self.tick_size <= 0:
            raise ValueError(f"tick_size must be > 0, not {self.tick_size}")
        if self.lot_size < 1 or self.mean_lots <= 0:
            raise ValueError("lot_size must be >= 1 and mean_lots > 0")


class TickerFeed:
    """One symbol's simulated price and traded volume.

    The same ``seed`` and symbol always give the same series of values, and a
    symbol's series does not depend on which other symbols run beside it.
    After a restart (of the feed, or of the server with ``--history-db``) the
    walk continues from the last kept price instead of a new start price.
    """

    def __init__(
        self,
        symbol: str,
        *,
        params: TickerParams | None = None,
        seed: int | None = None,
        start_price: float | None = None,
    ) -> None:
        self.params = params or TickerParams()
        # str seeds hash with SHA-512, so this is stable across runs and
        # independent of PYTHONHASHSEED; seed=None draws from the OS.
        self._rng = random.Random(None if seed is None else f"{seed}:{symbol}")
        if start_price is None:
            start_price = round(self._rng.uniform(20.0, 400.0), 2)
        if not start_price > 0:
            raise ValueError(f"start_price must be > 0, not {start_price}")
        self.start_price = start_price
        self._resume_price: float | None = None
        self.info = FeedInfo(
            name=symbol,
            title=symbol,
            rate=self.params.rate,
            description="simulated ticker (geometric Brownian motion)",
            series=(
                Series("price", unit="USD", level=True),
                Series("volume", unit="shares", plot=False),
            ),
        )

    def resume_from(self, last: KeptPoint) -> bool:
        """Continue the next walk from *last*'s price (False if it has none)."""
        price = last.values.get("price")
        if isinstance(price, bool) or not isinstance(price, int | float):
            return False
        if not (price > 0 and math.isfinite(price)):
            return False
        self._resume_price = float(price)
        return True

    def walk(self) -> Iterator[dict[str, float]]:
        """The endless series of values, unpaced: first the start price, or
        after ``resume_from`` one step on from the kept price."""
        p = self.params
        dt = 1.0 / p.rate / SECONDS_PER_HOUR
        step_mean = (p.drift - 0.5 * p.volatility**2) * dt
        step_sd = p.volatility * math.sqrt(dt)
        rng = self._rng
        # Walk the exact price and publish it rounded: rounding the state
        # itself would freeze small moves and bias the walk.
        resume, self._resume_price = self._resume_price, None
        if resume is None:
            price = self.start_price
        else:  # the kept price was published already: the next one is a step on
            price = resume * math.exp(rng.gauss(step_mean, step_sd))
        while True:
            lots = 1 + int(rng.expovariate(1.0 / p.mean_lots))
            yield {
                # round() again to drop float noise such as 101.37000000000001.
                "price": round(max(1, round(price / p.tick_size)) * p.tick_size, 10),
                "volume": lots * p.lot_size,
            }
            price *= math.exp(rng.gauss(step_mean, step_sd))

    async def stream(self) -> AsyncIterator[dict[str, float]]:
        """Yield ``walk()`` paced at ``params.rate`` against the loop clock.

        Ticks are scheduled on an absolute grid so the rate does not drift;
        after a stall the grid restarts from now rather than bursting to
        catch up (a ticker does not trade while the market is frozen).
        """
        loop = asyncio.get_running_loop()
        period = 1.0 / self.params.rate
        next_at = loop.time()
        for values in self.walk():
            yield values
            next_at += period
            delay = next_at - loop.time()
            if delay < -period:
                next_at = loop.time()
                delay = 0.0
            await asyncio.sleep(max(delay, 0.0))


def ticker_feeds(
    symbols: Sequence[str] = DEFAULT_SYMBOLS,
    *,
    params: TickerParams | None = None,
    seed: int | None = None,
) -> list[TickerFeed]:
    """One :class:`TickerFeed` per symbol, sharing parameters and seed."""
    if len(set(symbols)) != len(symbols):
        raise ValueError(f"duplicate symbols in {list(symbols)}")
    return [TickerFeed(s, params=params, seed=seed) for s in symbols]


def tickers(
    symbols: Sequence[str] = DEFAULT_SYMBOLS,
    rate: float = 10.0,
    seed: int | None = None,
    drift: float = 0.0,
    volatility: float = 0.05,
) -> list[TickerFeed]:
    """The simulated tickers as one configurable entry (``--feed ticker``):
    one feed per symbol, e.g. ``--feed ticker symbols=ACME,GLOBX rate=5 seed=1``."""
    params = TickerParams(rate=rate, drift=drift, volatility=volatility)
    return ticker_feeds(symbols, params=params, seed=seed)
