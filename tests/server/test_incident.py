"""The demo traffic raises incidents on request: a latency spike, an alert storm."""

from __future__ import annotations

import statistics
import time

import pytest

import nexus_nb as nnb
from nexus_nb.server import aserve
from nexus_nb.server.demo import DemoSource
from tests.helpers.keys import KEY
from tests.helpers.waiting import until


def test_a_latency_incident_slows_one_model_only_while_it_lasts() -> None:
    source = DemoSource(seed=3, rate=100.0, channels=["ai.requests"])
    source.incident("latency", model="claude-sonnet", start=10.0, duration=10.0, factor=8.0)
    before: dict[str, list[float]] = {}
    during: dict[str, list[float]] = {}
    # At 100 events a second, event i is stamped i / 100 s: 1000..1999 fall in the incident.
    for i, (_, data) in zip(range(4000), source.events(start=0.0), strict=False):
        bucket = during if 1000 <= i < 2000 else before
        bucket.setdefault(data["model"], []).append(data["latency_ms"])
    spiked = statistics.median(during["claude-sonnet"]) / statistics.median(before["claude-sonnet"])
    calm = statistics.median(during["gpt-4o-mini"]) / statistics.median(before["gpt-4o-mini"])
    assert spiked > 4
    assert calm < 2


def test_without_an_incident_the_sequence_is_unchanged() -> None:
    plain = DemoSource(seed=5)
    raised = DemoSource(seed=5)
    raised.incident("latency", model="gpt-4o-mini", start=1e12, duration=1.0)
    assert list(zip(range(500), plain.events(start=0.0), strict=False)) == list(
        zip(range(500), raised.events(start=0.0), strict=False)
    )


@pytest.mark.parametrize(
    ("kind", "options", "match"),
    [
        ("fire", {}, "kind must be one of"),
        ("latency", {"model": "gpt-5"}, "needs model="),
        ("alerts", {"source": "server-99"}, "needs source="),
        ("latency", {"model": "claude-sonnet", "duration": 0}, "duration must be a positive"),
        ("alerts", {"source": "server-01", "share": 2.0}, "share must be in"),
    ],
)
def test_a_bad_incident_is_refused(kind: str, options: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DemoSource(seed=1).incident(kind, **options)  # type: ignore[arg-type]


async def test_an_alert_storm_on_a_real_server_floods_one_source() -> None:
    server = await aserve(api_key=KEY, demo=True, rate=400, seed=2)
    try:
        async with await nnb.aconnect(server.url, api_key=KEY) as stream:
            await stream.subscribe("system.alerts")
            raised = server.incident("alerts", source="server-03", duration=60, share=0.5)
            assert raised.start <= time.time()
            alerts = stream["system.alerts"]
            storm = alerts.resample("1h", by="source", agg={"value": "count"})
            await until(lambda: len(alerts) >= 50)
            frame = alerts.to_dataframe()
            after = frame[frame["timestamp"].astype("int64") >= int(raised.start * 1e9)]
            assert (after["source"] == "server-03").mean() > 0.9
            assert set(after.loc[after["source"] == "server-03", "severity"]) == {"critical"}
            counts = storm.to_dataframe().set_index("source")["count"]
            assert counts["server-03"] == int((frame["source"] == "server-03").sum())
    finally:
        await server.aclose()


async def test_a_server_without_demo_traffic_says_so() -> None:
    server = await aserve(api_key=KEY, demo=False)
    try:
        with pytest.raises(RuntimeError, match="runs no demo traffic"):
            server.incident("latency", model="gpt-4o-mini")
    finally:
        await server.aclose()
