"""A real server publishes this machine's own figures on telemetry.metrics."""

from __future__ import annotations

import pytest

import nexus_nb as nnb
from nexus_nb.server import aserve
from nexus_nb.server.host import HOST_METRICS, HostMetrics
from tests.helpers.keys import KEY


async def test_serve_with_host_metrics_streams_cpu_memory_disk_and_network() -> None:
    async with aserve(api_key=KEY, demo=False, host_metrics=True, host_interval=0.1) as server:
        stream = await nnb.aconnect(server.url, api_key=KEY)
        try:
            await stream.subscribe(["telemetry.metrics"], filters={"metric_name": "cpu_usage"})
            await stream.wait_for("telemetry.metrics", rows=3, timeout=10)
            await stream.resubscribe({"telemetry.metrics": None})
            before = len(stream["telemetry.metrics"])
            await stream.wait_for(
                "telemetry.metrics", rows=before + 2 * len(HOST_METRICS), timeout=10
            )
        finally:
            await stream.aclose()
    df = stream["telemetry.metrics"].to_dataframe()
    assert set(df["metric_name"]) == set(HOST_METRICS)
    assert df["source"].str.startswith("host:").all()
    percent = df[df["unit"] == "percent"]["value"]
    assert percent.between(0, 100).all()
    assert (df[df["unit"] == "bytes/s"]["value"] >= 0).all()


def test_a_sample_has_one_event_per_metric_in_the_demo_shape() -> None:
    events = HostMetrics(source="here").sample()
    assert [e["metric_name"] for e in events] == list(HOST_METRICS)
    assert {tuple(sorted(e)) for e in events} == {
        ("event_type", "metric_name", "source", "timestamp", "unit", "value")
    }
    assert all(e["source"] == "here" and e["timestamp"].endswith("Z") for e in events)


def test_an_interval_below_a_tenth_of_a_second_is_refused() -> None:
    with pytest.raises(ValueError, match=r"at least 0\.1"):
        HostMetrics(interval=0.01)
