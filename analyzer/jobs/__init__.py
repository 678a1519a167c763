"""Jobs that outlive a page: the SQLite job store and the background runner."""

from analyzer.jobs.runner import EngineFactory, Runner, default_engine_factory, get_runner
from analyzer.jobs.store import (
    FINAL_STATUSES,
    HELD_STATUSES,
    DocumentInfo,
    JobInfo,
    JobNotFound,
    JobStore,
)

__all__ = [
    "FINAL_STATUSES",
    "HELD_STATUSES",
    "DocumentInfo",
    "EngineFactory",
    "JobInfo",
    "JobNotFound",
    "JobStore",
    "Runner",
    "default_engine_factory",
    "get_runner",
]
