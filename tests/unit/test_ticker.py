import math
import statistics
from itertools import islice

import pytest

from feeds import TickerFeed, TickerParams, ticker_feeds


def take(feed: TickerFeed, n: int) -> list[dict[str, float]]:
    return list(islice(feed.walk(), n))


def test_same_seed_gives_same_series():
    """Two tickers with the same seed and symbol produce identical values."""
    assert take(TickerFeed("ACME", seed=7), 500) == take(TickerFeed("ACME", seed=7), 500)


def test_different_seed_or_symbol_gives_different_series():
    """Changing the seed or the symbol changes the walk."""
    base = take(TickerFeed("ACME", seed=7), 50)
    assert take(TickerFeed("ACME", seed=8), 50) != base
    assert take(TickerFeed("GLOBX", seed=7), 50) != base


def test_symbol_series_independent_of_other_symbols():
    """A symbol walks the same whether it runs alone or among others."""
    alone = ticker_feeds(["GLOBX"], seed=3)[0]
    among = ticker_feeds(["ACME", "GLOBX", "STARK"], seed=3)[1]
    assert take(alone, 200) == take(among, 200)


def test_prices_on_tick_grid_and_volumes_in_lots():
    """Prices are positive multiples of the tick size; volumes whole lots."""
    params = TickerParams(tick_size=0.05, lot_size=10)
    for values in take(TickerFeed("ACME", seed=1, params=params), 2000):
        ticks = values["price"] / 0.05
        assert values["price"] > 0 and abs(ticks - round(ticks)) < 1e-6
        assert values["volume"] >= 10 and values["volume"] % 10 == 0


def test_log_returns_match_drift_and_volatility():
    """Log-returns have the GBM mean (mu - sigma^2/2) dt and std sigma sqrt(dt)."""
    rate, drift, vol = 10.0, 2.0, 0.8
    params = TickerParams(rate=rate, drift=drift, volatility=vol, tick_size=1e-9)
    prices = [v["price"] for v in take(TickerFeed("X", seed=11, params=params), 40_001)]
    returns = [math.log(b / a) for a, b in zip(prices, prices[1:], strict=False)]
    dt = 1 / rate / 3600
    expected_sd = vol * math.sqrt(dt)
    assert statistics.stdev(returns) == pytest.approx(expected_sd, rel=0.02)
    # The mean is tiny next to the noise: check it within 4 standard errors.
    standard_error = expected_sd / math.sqrt(len(returns))
    assert abs(statistics.fmean(returns) - (drift - vol**2 / 2) * dt) < 4 * standard_error


def test_start_price_is_first_value():
    """The first point is the start price."""
    assert take(TickerFeed("ACME", start_price=123.45), 1)[0]["price"] == 123.45


@pytest.mark.parametrize(
    "kwargs",
    [{"rate": 0}, {"rate": float("inf")}, {"volatility": -1}, {"tick_size": 0}, {"lot_size": 0}],
)
def test_bad_params_rejected(kwargs):
    """Nonsensical ticker parameters fail loudly at construction."""
    with pytest.raises(ValueError):
        TickerParams(**kwargs)


def test_duplicate_or_invalid_symbols_rejected():
    """Duplicate symbols and names that are unsafe in URLs are refused."""
    with pytest.raises(ValueError, match="duplicate"):
        ticker_feeds(["ACME", "ACME"])
    with pytest.raises(ValueError, match="invalid feed name"):
        ticker_feeds(["<b>"])


async def test_stream_paces_at_rate():
    """stream() yields the walk at the configured rate."""
    import asyncio

    feed = TickerFeed("ACME", seed=2, params=TickerParams(rate=200))
    loop = asyncio.get_running_loop()
    start = loop.time()
    got = []
    async for values in feed.stream():
        got.append(values)
        if len(got) == 41:
            break
    elapsed = loop.time() - start
    assert got == take(TickerFeed("ACME", seed=2, params=TickerParams(rate=200)), 41)
    assert elapsed >= 40 / 200 * 0.95  # never faster than the rate
