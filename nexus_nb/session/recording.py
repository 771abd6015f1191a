"""A capture to disk that runs while a stream runs."""

from __future__ import annotations

from collections.abc import Callable

from nexus_nb.capture import Recorder

__all__ = ["Recording"]


class Recording:
    """A capture to disk that runs while the stream runs; :meth:`close` flushes it.

    Created by :meth:`Stream.record`. Every event received for the recorded
    channels after creation is written; nothing received before :meth:`close`
    returns is lost, even if the owner is cancelled (call ``close`` in ``finally``).
    """

    def __init__(self, recorder: Recorder, detach: Callable[[], None]) -> None:
        self._recorder = recorder
        self._detach = detach
        self.closed = False

    @property
    def rows_written(self) -> int:
        """Events written so far (flushed or pending in the current row group)."""
        return int(self._recorder.rows_written)

    @property
    def path(self) -> str:
        """The capture's main file."""
        return str(self._recorder.path)

    def close(self) -> None:
        """Stop recording and flush everything received so far to disk (idempotent)."""
        if not self.closed:
            self.closed = True
            self._detach()
            self._recorder.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "recording"
        return f"<Recording {self.path} {state} rows={self.rows_written}>"
