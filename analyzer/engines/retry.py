"""When and how long to wait before asking a provider again.

The engine's retry loop lives inside a generator (it yields a notice for the job log before each
wait, and the wait must end at once when the job is cancelled), so it is a plain loop around the
small, separately tested policy pieces here: which failures are worth retrying, how long to wait
(exponential backoff with full jitter, or what the server asked for with ``Retry-After``), and
the sentences an analyst reads.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping

#: statuses that mean "try again later": timeout, conflict, rate limit, server trouble
RETRYABLE_STATUSES = frozenset({408, 409, 429})


class RetryableError(Exception):
    """One attempt failed in a way a later attempt may not.

    reason:      a short phrase for the log ("rate limited by the provider (429)")
    retry_after: seconds the server asked us to wait, if it said so
    detail:      the server's own words (sanitised), kept for the final error message
    """

    def __init__(
        self,
        reason: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.status = status
        self.detail = detail


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUSES or 500 <= status <= 599


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date).

    ``retry-after-ms`` (sent by OpenAI and Azure) wins because it is the more precise one.
    Returns None when neither header is there or readable; never a negative number.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    milliseconds = lowered.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def backoff_delay(
    failures: int,
    *,
    base: float,
    maximum: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after the ``failures``-th failed attempt (1, 2, ...).

    With ``retry_after`` the server knows best: wait that long (capped at ``maximum``).
    Otherwise "full jitter": a random time in [0, base * 2**(failures-1)], capped at
    ``maximum``, which spreads the retries of many parallel workers apart instead of
    sending them back in lock-step.
    """
    if retry_after is not None:
        return min(maximum, max(0.0, retry_after))
    ceiling = min(maximum, base * 2 ** max(0, failures - 1))
    return (rng or random).uniform(0.0, ceiling)


def retry_notice(reason: str, delay: float, next_attempt: int, total_attempts: int) -> str:
    """The log line shown before a retry."""
    return f"{reason}; retrying in {delay:.1f} s (attempt {next_attempt} of {total_attempts})"


def exhausted_message(base_url: str, error: RetryableError, attempts: int, seconds: float) -> str:
    """The final sentence once every attempt failed: what happened and what to do."""
    detail = f" The provider said: {error.detail}" if error.detail else ""
    if error.status == 429:
        advice = (
            "Wait a while, lower the concurrency, or set a requests-per-minute limit "
            "(ANALYZER_REQUESTS_PER_MINUTE)."
        )
    elif error.status is None and error.reason.startswith("could not connect"):
        advice = "Check the base URL and that the server is running and reachable."
    else:
        advice = "Try again later, or lower the concurrency if the provider is overloaded."
    return (
        f"The provider at {base_url} kept failing: {error.reason} "
        f"({attempts} attempts over {seconds:.0f} s). {advice}{detail}"
    )
