"""Operations without a running Redis: Prometheus rendering and the deploy guide's promises."""

from __future__ import annotations

import re

import pytest

from nexus_nb.server import MemoryEventLog, aserve
from nexus_nb.server.prometheus import CONTENT_TYPE, render, wants_prometheus
from nexus_nb.server.redis_log import PUBLISH_SCRIPT
from tests.helpers.nginx import NGINX_CONF
from tests.helpers.paths import ROOT

DEPLOY = ROOT / "docs" / "deploy.md"

METRICS = {
    "totalConnections": 3,
    "activeConnections": 1,
    "uptime": 12.5,
    "channels": {"a.b": {"published": 4, "delivered": 8}, 'we"ird': {"published": 0}},
    "epoch": "abc",
    "demo": None,
    "log": {"state": "connected", "pending": 2, "epochChanges": 1},
}


def test_counters_get_total_suffix_and_gauges_do_not() -> None:
    text = render(METRICS).decode()
    assert "# TYPE nexus_total_connections_total counter\nnexus_total_connections_total 3" in text
    assert "# TYPE nexus_active_connections gauge\nnexus_active_connections 1\n" in text
    assert "nexus_uptime 12.5\n" in text
    assert text.endswith("\n")


def test_per_channel_numbers_become_labels_escaped() -> None:
    text = render(METRICS).decode()
    assert 'nexus_published_total{channel="a.b"} 4' in text
    assert 'nexus_published_total{channel="we\\"ird"} 0' in text
    assert 'nexus_delivered_total{channel="a.b"} 8' in text
    assert text.count("# TYPE nexus_published_total counter") == 1


def test_nested_objects_get_a_prefix_and_text_values_an_info_gauge() -> None:
    text = render(METRICS).decode()
    assert "nexus_log_pending 2" in text
    assert "nexus_log_epoch_changes_total 1" in text
    assert 'nexus_log_info{state="connected"} 1' in text
    assert 'nexus_info{epoch="abc"} 1' in text
    assert "demo" not in text


def test_every_sample_line_is_well_formed() -> None:
    sample = re.compile(
        r'^[a-z_][a-z0-9_]*(\{[a-z_]+="(?:[^"\\]|\\.)*"(,[a-z_]+="[^"]*")*\})? \S+$'
    )
    for line in render(METRICS).decode().splitlines():
        assert line.startswith("# ") or sample.match(line), line
    assert CONTENT_TYPE.startswith("text/plain; version=0.0.4")


def test_prometheus_is_chosen_by_query_or_accept_header_and_json_stays_the_default() -> None:
    scraper = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
    assert wants_prometheus("format=prometheus", None)
    assert wants_prometheus("", scraper)
    assert wants_prometheus("", "text/plain")
    assert not wants_prometheus("", None)
    assert not wants_prometheus("", "*/*")
    assert not wants_prometheus("", "application/json, text/plain")
    assert not wants_prometheus("format=json", scraper)


def test_the_deploy_guide_carries_the_publish_script_verbatim() -> None:
    assert PUBLISH_SCRIPT in DEPLOY.read_text()


def test_the_deploy_guide_shows_the_nginx_block_the_tests_run() -> None:
    def block(text: str) -> list[str]:
        start = text.index("location /stream {")
        return [line.strip() for line in text[start : text.index("}", start)].splitlines()]

    tested = NGINX_CONF.replace("{{", "{").replace("}}", "}")
    assert block(DEPLOY.read_text()) == block(tested)
    assert "ip_hash" not in tested


async def test_serve_refuses_both_a_log_and_a_redis_url() -> None:
    with pytest.raises(ValueError, match="either log or redis"):
        await aserve(demo=False, redis="redis://127.0.0.1:1/0", log=MemoryEventLog(["a"]))
