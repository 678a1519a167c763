"""Is somebody still running this job? Heartbeats and owner processes, shared by store and runner.

A runner stamps each job it holds (queued or running) with its owner id, its pid and a heartbeat
every few seconds. A job whose owner process is gone, or whose heartbeat is older than
STALE_SECONDS, is orphaned: nothing will ever finish it, so it is shown as interrupted and any
runner may take it over. A fresh heartbeat from a live process means "hands off".
"""

from __future__ import annotations

import os
import time

HEARTBEAT_SECONDS = 2.0
# Five missed heartbeats: long enough for a busy machine, short enough for a restart to notice.
STALE_SECONDS = 10.0


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists on this machine (signal 0 probes, sends nothing)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, but belongs to another user
        return True
    except OSError:
        return False
    return True


def held_by_live_owner(
    owner_pid: int | None, heartbeat_at: float | None, now: float | None = None
) -> bool:
    """A live process holds the job and has said so within STALE_SECONDS."""
    if owner_pid is None or heartbeat_at is None:
        return False
    moment = time.time() if now is None else now
    return moment - heartbeat_at < STALE_SECONDS and pid_alive(owner_pid)
