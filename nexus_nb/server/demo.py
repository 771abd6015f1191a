"""Simulated, deterministic traffic on the seven reference channels, for demos and tests.

:class:`DemoSource` models a small fleet: four servers whose metrics follow
bounded mean-reverting random walks with occasional spikes, tasks and commands
that go through their lifecycles, AI requests, deploys and restarts, and rare
alerts about whichever metric is furthest from normal. With a seed the
sequence is reproducible; only :class:`random.Random` is used.

Every event's keys and value types are fixed per channel (floats stay floats,
``duration_ms`` and ``exit_code`` are present before they mean anything)
because buffers infer column dtypes from the first events they see.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from nexus_nb.protocol import CHANNELS, isotime
from nexus_nb.server.pace import Backlog, Clock, Pacer

__all__ = ["DemoSource", "Incident"]

#: Share of the traffic per channel (renormalised over the channels asked for).
WEIGHTS: Final = {
    "telemetry.metrics": 0.60,
    "telemetry.events": 0.05,
    "tasks.created": 0.04,
    "tasks.updates": 0.14,
    "commands.status": 0.07,
    "ai.requests": 0.085,
    "system.alerts": 0.015,
}
SOURCES: Final = ("server-01", "server-02", "server-03", "server-04")
AGENTS: Final = ("agent-alpha", "agent-beta", "agent-gamma", "agent-delta")
MAX_TASKS: Final = 8
MAX_COMMANDS: Final = 4
#: A late run() publishes at most this many seconds' worth of overdue events at once.
CATCH_UP: Final = 0.1
#: run() publishes in ticks at least this many seconds apart, every event due by
#: then in one go: at high rates one wake-up of the loop (and one write to each
#: client) per tick rather than per event.
TICK: Final = 0.02

# metric: (unit, typical mean, lower bound, upper bound, step deviation)
_METRICS: Final = {
    "cpu_usage": ("%", 45.0, 0.0, 100.0, 2.5),
    "memory_usage": ("%", 62.0, 0.0, 100.0, 1.0),
    "latency_ms": ("ms", 120.0, 1.0, 5000.0, 8.0),
    "requests_per_s": ("req/s", 850.0, 0.0, 10000.0, 35.0),
}
_TASK_NAMES: Final = (
    "index-documents",
    "train-model",
    "sync-inventory",
    "generate-report",
    "resize-images",
    "backup-database",
    "compute-embeddings",
)
_COMMANDS: Final = (
    "deploy api",
    "restart worker",
    "rotate logs",
    "migrate schema",
    "clear cache",
    "backup db",
)
_MODELS: Final = ("gpt-4o-mini", "claude-sonnet", "llama-3.1-70b", "mistral-large")
# alert severity by the worst metric's distance from its mean, in deviations
_SEVERITIES: Final = (("critical", 5.0), ("error", 3.5), ("warning", 2.5), ("info", 0.0))
_OPS_EVENTS: Final = (
    ("deploy", "info", "deployed api v{n}"),
    ("restart", "warning", "restarted worker after health check failure"),
    ("config_change", "info", "updated rate limits (revision {n})"),
    ("scale_up", "info", "scaled worker pool to {k} replicas"),
    ("deploy_failed", "error", "deploy of api v{n} rolled back"),
)


@dataclass(slots=True)
class _Walk:
    """One (source, metric) series: mean-reverting, bounded, with rare spikes."""

    unit: str
    mean: float
    low: float
    high: float
    step: float
    value: float

    def advance(self, rng: random.Random) -> float:
        self.value += 0.1 * (self.mean - self.value) + rng.gauss(0.0, self.step)
        if rng.random() < 0.01:
            self.value += rng.uniform(8.0, 20.0) * self.step
        self.value = min(self.high, max(self.low, self.value))
        return self.value

    def anomaly(self) -> float:
        # In units of the walk's stationary deviation: step / sqrt(1 - 0.9**2) ~ 2.3 steps.
        return abs(self.value - self.mean) / (2.3 * self.step)


@dataclass(slots=True)
class _Job:
    """A task or command in flight."""

    ident: str
    name: str
    owner: str
    started: float
    steps: int
    failing: bool
    priority: str = "medium"
    progress: int = 0
    status: str = "created"


class _World:
    """The simulation state behind one event sequence."""

    def __init__(
        self, seed: int, channels: Sequence[str], incidents: Sequence[Incident] = ()
    ) -> None:
        self.incidents = incidents  # the source's live list: incidents raised later apply
        self.rng = random.Random(seed)
        self.channels = tuple(channels)
        total = sum(WEIGHTS[c] for c in channels)
        self.cum_weights = list(itertools.accumulate(WEIGHTS[c] / total for c in channels))
        self.walks: dict[tuple[str, str], _Walk] = {}
        for source in SOURCES:
            for metric, (unit, mean, low, high, step) in _METRICS.items():
                centre = mean * self.rng.uniform(0.7, 1.3)
                self.walks[source, metric] = _Walk(unit, centre, low, high, step, centre)
        self.tasks: list[_Job] = []
        self.commands: list[_Job] = []
        self.counter = itertools.count(1)

    def step(self, t: float) -> tuple[str, dict[str, Any]]:
        for incident in self.incidents:
            if (
                incident.kind == "alerts"
                and incident.active(t)
                and "system.alerts" in self.channels
                and self.rng.random() < incident.share
            ):
                return "system.alerts", self.storm_alert(t, incident.target)
        channel = self.rng.choices(self.channels, cum_weights=self.cum_weights)[0]
        if channel == "telemetry.metrics":
            return channel, self.metric(t)
        if channel == "tasks.created":
            return self.task_created(t)
        if channel == "tasks.updates":
            return self.task_update(t)
        if channel == "commands.status":
            return channel, self.command(t)
        if channel == "ai.requests":
            return channel, self.ai_request(t)
        if channel == "system.alerts":
            return channel, self.alert(t)
        return channel, self.ops_event(t)

    def metric(self, t: float) -> dict[str, Any]:
        source, metric = self.rng.choice(list(self.walks))
        walk = self.walks[source, metric]
        return {
            "event_type": "system.metric",
            "source": source,
            "metric_name": metric,
            "value": round(walk.advance(self.rng), 3),
            "unit": walk.unit,
            "timestamp": isotime(t),
        }

    def ops_event(self, t: float) -> dict[str, Any]:
        event_type, severity, template = self.rng.choice(_OPS_EVENTS)
        n, k = next(self.counter), self.rng.randint(2, 12)
        return {
            "event_type": event_type,
            "source": self.rng.choice(SOURCES),
            "severity": severity,
            "message": template.format(n=f"1.{n % 50}.{n % 7}", k=k),
            "timestamp": isotime(t),
        }

    def new_task(self, t: float) -> _Job:
        rng = self.rng
        return _Job(
            ident=f"task-{next(self.counter):06d}",
            name=rng.choice(_TASK_NAMES),
            owner=rng.choice(AGENTS),
            started=t,
            steps=rng.randint(2, 5),
            failing=rng.random() < 0.1,
            priority=rng.choices(("low", "medium", "high", "critical"), (3, 4, 2, 1))[0],
        )

    def task_created(self, t: float) -> tuple[str, dict[str, Any]]:
        tracking = "tasks.updates" in self.channels
        if tracking and len(self.tasks) >= MAX_TASKS:
            return self.task_update(t)
        task = self.new_task(t)
        if tracking:
            self.tasks.append(task)
        return "tasks.created", self.task_data(task, t)

    def task_update(self, t: float) -> tuple[str, dict[str, Any]]:
        if not self.tasks:
            self.tasks.append(self.new_task(t))
            if "tasks.created" in self.channels:
                return "tasks.created", self.task_data(self.tasks[-1], t)
        task = self.rng.choice(self.tasks)
        task.steps -= 1
        if task.steps > 0:
            task.status = "running"
            task.progress = min(95, task.progress + self.rng.randint(5, 35))
        else:
            task.status = "failed" if task.failing else "completed"
            task.progress = task.progress if task.failing else 100
            self.tasks.remove(task)
        return "tasks.updates", self.task_data(task, t)

    def task_data(self, task: _Job, t: float) -> dict[str, Any]:
        done = task.status in ("completed", "failed")
        return {
            "task_id": task.ident,
            "name": task.name,
            "priority": task.priority,
            "status": task.status,
            "progress": task.progress,
            "agent": task.owner,
            "duration_ms": max(1, round((t - task.started) * 1000)) if done else 0,
            "timestamp": isotime(t),
        }

    def command(self, t: float) -> dict[str, Any]:
        rng = self.rng
        exit_code = -1
        if len(self.commands) < MAX_COMMANDS and (not self.commands or rng.random() < 0.35):
            job = _Job(
                ident=f"cmd-{next(self.counter):06d}",
                name=rng.choice(_COMMANDS),
                owner=rng.choice(SOURCES),
                started=t,
                steps=2,
                failing=rng.random() < 0.15,
                status="queued",
            )
            self.commands.append(job)
        else:
            job = rng.choice(self.commands)
            job.steps -= 1
            if job.steps > 0:
                job.status = "running"
            else:
                job.status = "failed" if job.failing else "succeeded"
                exit_code = rng.choice((1, 2, 127, 137)) if job.failing else 0
                self.commands.remove(job)
        return {
            "command_id": job.ident,
            "command": job.name,
            "status": job.status,
            "exit_code": exit_code,
            "source": job.owner,
            "timestamp": isotime(t),
        }

    def ai_request(self, t: float) -> dict[str, Any]:
        rng = self.rng
        prompt = int(rng.lognormvariate(6.0, 0.8))
        roll = rng.random()
        status = "success" if roll < 0.94 else "error" if roll < 0.98 else "timeout"
        completion = int(rng.lognormvariate(5.2, 0.7)) if status == "success" else 0
        latency = 30_000.0 if status == "timeout" else 150.0 + 9.0 * completion
        model = rng.choice(_MODELS)
        latency *= rng.uniform(0.8, 1.4)
        for incident in self.incidents:
            if incident.kind == "latency" and incident.target == model and incident.active(t):
                latency *= incident.factor
        return {
            "request_id": f"req-{next(self.counter):06d}",
            "model": model,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "latency_ms": round(latency, 3),
            "status": status,
            "agent": rng.choice(AGENTS),
            "timestamp": isotime(t),
        }

    def alert(self, t: float) -> dict[str, Any]:
        (source, metric), walk = max(self.walks.items(), key=lambda item: item[1].anomaly())
        anomaly = walk.anomaly()
        severity = next(name for name, floor in _SEVERITIES if anomaly >= floor)
        value = round(walk.value, 3)
        return {
            "alert_id": f"alert-{next(self.counter):06d}",
            "severity": severity,
            "source": source,
            "message": f"{metric} on {source} is {value:g} {walk.unit}",
            "metric_name": metric,
            "value": value,
            "timestamp": isotime(t),
        }

    def storm_alert(self, t: float, source: str) -> dict[str, Any]:
        metric = self.rng.choice(list(_METRICS))
        value = (
            round(self.walks[source, metric].value, 3) if (source, metric) in self.walks else 0.0
        )
        return {
            "alert_id": f"alert-{next(self.counter):06d}",
            "severity": "critical",
            "source": source,
            "message": f"{metric} on {source} is {value:g} {_METRICS[metric][0]}",
            "metric_name": metric,
            "value": value,
            "timestamp": isotime(t),
        }


@dataclass(frozen=True, slots=True)
class Incident:
    """A scripted disturbance of the demo traffic between ``start`` and ``end`` (UNIX s).

    ``kind="latency"``: requests to ``target`` (a model) take ``factor`` times as long.
    ``kind="alerts"``: ``share`` of all events become critical alerts on ``target`` (a source).
    """

    kind: str
    target: str
    start: float
    end: float
    factor: float = 1.0
    share: float = 0.0

    def active(self, t: float) -> bool:
        """Whether the incident covers event time ``t``."""
        return self.start <= t < self.end


_INCIDENT_KINDS: Final = ("latency", "alerts")
MAX_INCIDENTS: Final = 64
"""Incidents remembered per source; the oldest is forgotten first."""


class DemoSource:
    """Deterministic simulated traffic on the reference channels.

    Example:
        >>> source = DemoSource(seed=1)
        >>> channel, data = next(source.events(start=0.0))
    """

    def __init__(
        self, *, seed: int | None = None, rate: float = 20.0, channels: Sequence[str] = CHANNELS
    ) -> None:
        """Configure the simulation.

        Args:
            seed: Makes the sequence reproducible; ``None`` draws one (kept, so
                every :meth:`events` call of this source still agrees).
            rate: Events per second over all channels (``run``) and the
                timestamp step of ``events`` (``1 / rate`` seconds).
            channels: The channels to produce, a non-empty subset of
                :data:`~nexus_nb.protocol.CHANNELS`; shares are renormalised.

        Raises:
            ValueError: ``rate`` not positive and finite, or ``channels`` empty
                or holding an unknown channel.
        """
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError("rate must be a positive, finite number of events per second")
        names = tuple(dict.fromkeys(channels))
        unknown = [c for c in names if c not in WEIGHTS]
        if not names or unknown:
            raise ValueError(f"channels must be a non-empty subset of CHANNELS, got {unknown}")
        self.seed = random.SystemRandom().getrandbits(63) if seed is None else seed
        self.rate = float(rate)
        self.channels = names
        self.incidents: list[Incident] = []
        """Incidents raised with :meth:`incident` (the last ``MAX_INCIDENTS``)."""

    def incident(
        self,
        kind: str,
        *,
        model: str | None = None,
        source: str | None = None,
        duration: float = 10.0,
        start: float | None = None,
        factor: float = 8.0,
        share: float = 0.5,
    ) -> Incident:
        """Raise an incident in the traffic from ``start`` (default: now) for ``duration`` s.

        ``incident("latency", model="gpt-4")`` multiplies that model's
        ``latency_ms`` by ``factor``; ``incident("alerts", source="server-02")``
        turns ``share`` of all events into critical ``system.alerts`` on that
        source (an alert storm). It applies to a running :meth:`run` at once and
        to :meth:`events` sequences by event time.

        Raises:
            ValueError: Unknown ``kind``, a missing or unknown target, a
                non-positive ``duration`` or ``factor``, or ``share`` outside (0, 1].
        """
        if kind not in _INCIDENT_KINDS:
            raise ValueError(f"incident kind must be one of {_INCIDENT_KINDS}, got {kind!r}")
        if not (math.isfinite(duration) and duration > 0):
            raise ValueError(f"duration must be a positive number of seconds, got {duration!r}")
        if kind == "latency":
            if model not in _MODELS:
                raise ValueError(f"a latency incident needs model= one of {_MODELS}, got {model!r}")
            if not (math.isfinite(factor) and factor > 0):
                raise ValueError(f"factor must be positive, got {factor!r}")
            target = model
        else:
            if source not in SOURCES:
                raise ValueError(f"an alert storm needs source= one of {SOURCES}, got {source!r}")
            if not 0 < share <= 1:
                raise ValueError(f"share must be in (0, 1], got {share!r}")
            target = source
        begin = time.time() if start is None else float(start)
        raised = Incident(kind, target, begin, begin + duration, factor=factor, share=share)
        self.incidents.append(raised)
        del self.incidents[:-MAX_INCIDENTS]
        return raised

    def __repr__(self) -> str:
        return f"DemoSource(seed={self.seed}, rate={self.rate}, channels={list(self.channels)})"

    def events(self, start: float | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield the infinite sequence of ``(channel, data)``, without sleeping.

        Args:
            start: UNIX time of the first event's ``timestamp`` (default: now);
                each next event is ``1 / rate`` seconds later.
        """
        world = _World(self.seed, self.channels, self.incidents)
        origin = time.time() if start is None else start
        for index in itertools.count():
            yield world.step(origin + index / self.rate)

    async def run(
        self,
        publish: Callable[[str, dict[str, Any]], Awaitable[object]],
        *,
        clock: Clock | None = None,
    ) -> None:
        """Publish ``rate`` events a second, timestamped with the real time, until cancelled.

        Events are paced (:class:`~nexus_nb.server.pace.Pacer`) against a fixed
        schedule, so pacing does not drift, in ticks at least ``TICK`` seconds
        apart (the events due by then go together, timestamped ``1 / rate``
        apart, ending now, and never less than that after the event before);
        after a stall, at most ``CATCH_UP`` seconds' worth of overdue events go
        out at once and the rest are skipped.

        Args:
            publish: Awaited as ``publish(channel, data)`` for each event before
                the next one (backpressure).
            clock: Paces the events; the running loop's by default.

        Raises:
            Exception: Whatever ``publish`` raises ends the run with it.
        """
        world = _World(self.seed, self.channels, self.incidents)
        interval = 1.0 / self.rate
        ticks = Pacer(
            ((n * interval, n) for n in itertools.count()),
            clock=clock,
            max_batch=max(1, math.ceil(self.rate * CATCH_UP)),
            min_spacing=TICK,
            backlog=Backlog.SHIFT,
        )
        stamp = -math.inf
        async for batch in ticks:
            now, last = time.time(), len(batch) - 1
            for i in range(len(batch)):
                # At least 1 / rate after the event before: a tick woken later than
                # the one before it would otherwise stamp its first events earlier.
                stamp = max(now - (last - i) * interval, stamp + interval)
                await publish(*world.step(stamp))
