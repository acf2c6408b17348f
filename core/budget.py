"""Lambda's CPU share and the function timeout the handler's budgets need: one definition for the
handler (runtimes/limits.py), deploy (its default timeout), the template test and bench.

Lambda gives one vCPU per 1,769 MB (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html)
and throttles a function to that share, so CPU seconds at 1 vCPU become wall seconds / share.
"""

from __future__ import annotations

import math
from typing import Final

MB_PER_VCPU: Final = 1769
#: The handler's defaults (runtimes/limits.Limits): the URL deadline and one decode's CPU budget.
URL_TIMEOUT_S: Final = 10.0
DECODE_CPU_S: Final = 2.0
#: CPU seconds of one vCPU the function timeout allows for one inference (the slowest runtime and model
#: of the committed runs answer well inside it: results/report.md).
INFERENCE_CPU_S: Final = 1.0
#: The function timeout's margin over the sum of the budgets (request parsing, the answer, scheduling).
TIMEOUT_MARGIN: Final = 1.25


def cpu_share(memory_mb: int | None, quota: float | None = None) -> float:
    """The share of one vCPU this sandbox gets: a visible cgroup quota, else memory / 1,769, at most 1
    (the work it bounds is one thread)."""
    if quota is not None and quota > 0:
        return min(1.0, quota)
    if memory_mb:
        return min(1.0, memory_mb / MB_PER_VCPU)
    return 1.0


def function_timeout_s(
    memory_mb: int,
    url_timeout_s: float = URL_TIMEOUT_S,
    decode_cpu_s: float = DECODE_CPU_S,
    inference_cpu_s: float = INFERENCE_CPU_S,
) -> int:
    """The Lambda timeout the budgets need at ``memory_mb``: the URL deadline (wall clock), then the
    decode and the inference at this memory's share of a vCPU, plus TIMEOUT_MARGIN. A longer timeout
    only lets a slow request bill longer; a shorter one cuts off a request the budgets allow."""
    cpu = (decode_cpu_s + inference_cpu_s) / cpu_share(memory_mb)
    return math.ceil((url_timeout_s + cpu) * TIMEOUT_MARGIN)
