"""Where a job is in its life: the states, without the rest of the engine's vocabulary.

``studio.engine.protocol`` defines every message with pydantic, ~250 ms of imports. The
window needs the job states from its first frame (the jobs panel, the job bar) but the
messages only once the engine talks; it imports this, and the protocol re-exports it.
"""

from __future__ import annotations

from enum import Enum


class JobState(str, Enum):
    """Where a job is in its life; ``DONE``, ``FAILED`` and ``CANCELLED`` are final."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in FINAL_STATES

    def __str__(self) -> str:  # "done", not "JobState.DONE", in messages and f-strings
        return self.value


FINAL_STATES = frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED})
