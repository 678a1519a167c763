"""A client-side rate limit: stay under a provider's requests- or tokens-per-minute quota.

Being told "429, slow down" costs a round trip and a backoff; pacing ourselves costs nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """A thread-safe token bucket that refills ``per_minute`` units per minute.

    ``reserve`` never blocks: it takes the units at once (the bucket may go into debt) and says
    how long the caller must wait before using them. The caller does the waiting, so it can
    wait interruptibly (a cancel) and tell the user about it first. Debt makes callers queue
    fairly: each later caller waits for the ones before it.
    """

    def __init__(self, per_minute: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # units per second
        self._clock = clock
        self._level = self.capacity  # start full: a fresh client may burst up to the quota
        self._updated = clock()
        self._lock = threading.Lock()

    def reserve(self, amount: float = 1.0) -> float:
        """Take ``amount`` units; return the seconds to wait before they may be used."""
        amount = min(float(amount), self.capacity)  # one huge request must still get through
        with self._lock:
            now = self._clock()
            self._level = min(self.capacity, self._level + (now - self._updated) * self.rate)
            self._updated = now
            self._level -= amount
            return 0.0 if self._level >= 0 else -self._level / self.rate
