"""Jobs that outlive a page: the SQLite job store and the background runner."""

from analyzer.jobs.runner import Runner, get_runner
from analyzer.jobs.store import FINAL_STATUSES, DocumentInfo, JobInfo, JobNotFound, JobStore

__all__ = [
    "FINAL_STATUSES",
    "DocumentInfo",
    "JobInfo",
    "JobNotFound",
    "JobStore",
    "Runner",
    "get_runner",
]
