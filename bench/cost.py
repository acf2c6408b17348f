"""AWS Lambda prices and the cost of one million requests at a memory size.

Prices: https://aws.amazon.com/lambda/pricing/ (us-east-1, first duration tier), the figures quoted
in the issue and published there unchanged since the arm64 launch (2021-09-29); checked 2026-11-25
against the issue text only (no network at run time). Change them here, nowhere else.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

PRICES_SOURCE = "https://aws.amazon.com/lambda/pricing/"
PRICES_AS_OF = "2026-11-25 (us-east-1, first tier; figures as quoted in the issue)"
#: USD per GB-second of billed duration, per architecture.
GB_SECOND_USD = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
#: USD per request (both architectures): $0.20 per 1M requests.
REQUEST_USD = 0.20 / 1_000_000
ARCHITECTURES = tuple(GB_SECOND_USD)


def billed_ms(duration_ms: float) -> int:
    """Lambda bills duration rounded up to the next millisecond."""
    return max(1, math.ceil(duration_ms))


def cost_per_1m(
    memory_mb: int,
    warm_durations_ms: Sequence[float],
    cold_fraction: float = 0.0,
    init_ms: float = 0.0,
    cold_duration_ms: float | None = None,
    architecture: str = "x86_64",
) -> float:
    """Expected USD for 1M requests: requests + GB-seconds of billed duration.

    A fraction ``cold_fraction`` of requests are cold: they bill their init (container images bill the
    init phase) plus their own, usually slower, duration (``cold_duration_ms``; default: the warm mean).
    Memory is billed in GB = MB / 1024, as Lambda's price calculator does."""
    if not warm_durations_ms:
        raise ValueError("no warm durations")
    warm = sum(billed_ms(d) for d in warm_durations_ms) / len(warm_durations_ms)
    cold = billed_ms(init_ms) + (billed_ms(cold_duration_ms) if cold_duration_ms is not None else warm)
    mean_billed_ms = (1 - cold_fraction) * warm + cold_fraction * cold
    gb = memory_mb / 1024
    per_request = REQUEST_USD + gb * (mean_billed_ms / 1000) * GB_SECOND_USD[architecture]
    return per_request * 1_000_000
