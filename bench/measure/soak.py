"""Soak: thousands of warm invocations on one container, every 10th a bad input.

Passes when no request fails unexpectedly, every bad input is answered with its own typed errorType
(the handler keeps serving after it), and memory does not creep: the container's cgroup peak after the
warm-up vs at the end grows by less than 5 % (anonymous memory, rss, is sampled too and reported).

    python -m bench.measure.soak --image clothing-tflite:reference-float32 --n 5000 --memory 1769
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.measure import schema
from bench.measure.settings import MB_PER_VCPU, Settings
from bench.measure.targets import container as ct
from bench.measure.targets.base import Launch
from infra import docker

#: (name, event factory given a valid JPEG, expected errorType)
BAD_INPUTS: tuple[tuple[str, Callable[[bytes], dict[str, Any]], str], ...] = (
    ("bad_base64", lambda img: {"image_b64": "!!not*base64@@" * 4}, "InvalidBase64"),
    (
        "not_an_image",
        lambda img: {"image_b64": base64.b64encode(b"plain text, not pixels " * 8).decode()},
        "NotAnImage",
    ),
    ("missing_field", lambda img: {"meta": True}, "MissingInput"),
    (
        "both_fields",
        lambda img: {"url": "https://example.com/x.jpg", "image_b64": base64.b64encode(img).decode()},
        "AmbiguousInput",
    ),
    (
        "truncated_image",
        lambda img: {"image_b64": base64.b64encode(img[: len(img) // 2]).decode()},
        "TruncatedImage",
    ),
)
GROWTH_LIMIT_PCT = 5.0


@dataclass
class SoakResult:
    n: int = 0
    bad_n: int = 0
    unexpected_errors: int = 0
    typed_errors_ok: int = 0
    mem_warm_bytes: int | None = None
    mem_end_bytes: int | None = None
    peak_warm_bytes: int | None = None
    peak_end_bytes: int | None = None
    wall_s: float = 0.0
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    @staticmethod
    def _growth(a: int | None, b: int | None) -> float | None:
        return (b - a) / a * 100 if a and b is not None else None

    @property
    def mem_growth_pct(self) -> float | None:
        return self._growth(self.mem_warm_bytes, self.mem_end_bytes)

    @property
    def peak_growth_pct(self) -> float | None:
        return self._growth(self.peak_warm_bytes, self.peak_end_bytes)

    def problems(self) -> list[str]:
        out = []
        if self.unexpected_errors:
            out.append(f"{self.unexpected_errors} unexpected errors, e.g. {self.examples[:3]}")
        if self.typed_errors_ok != self.bad_n:
            out.append(f"only {self.typed_errors_ok}/{self.bad_n} bad inputs got their typed errorType")
        # The bar is on the cgroup's peak (what would hit Lambda's memory limit); rss growth is reported.
        g = self.peak_growth_pct
        if g is None:
            out.append("peak memory could not be sampled")
        elif g >= GROWTH_LIMIT_PCT:
            out.append(f"peak memory grew {g:.1f}% after warm-up (limit {GROWTH_LIMIT_PCT}%)")
        return out

    def record(self) -> schema.Soak:
        return schema.Soak(
            n=self.n,
            bad_n=self.bad_n,
            unexpected_errors=self.unexpected_errors,
            typed_errors_ok=self.typed_errors_ok,
            mem_warm_bytes=self.mem_warm_bytes,
            mem_end_bytes=self.mem_end_bytes,
            mem_growth_pct=self.mem_growth_pct,
            peak_warm_bytes=self.peak_warm_bytes,
            peak_end_bytes=self.peak_end_bytes,
            peak_growth_pct=self.peak_growth_pct,
        )


def working_set(c: docker.Emulator) -> int | None:
    """Anonymous memory of the container (heap, tensors): where a leak shows. Page cache is left out,
    it moves with the kernel's mood, not the handler's."""
    return c.rss_bytes()


def run(
    c: docker.Emulator,
    images: list[bytes],
    n: int,
    every: int = 10,
    warmup: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> SoakResult:
    """``n`` invocations on a started container; request i (1-based) is bad when i % every == 0."""
    warmup = warmup if warmup is not None else min(200, max(50, n // 10))
    res = SoakResult()
    good_events = [ct.event_for(b) for b in images]
    t0 = time.perf_counter()
    # warm-up: good requests and one of each bad kind (so error paths have allocated too), then the baseline
    for i in range(1, warmup + 1):
        ans = c.invoke(good_events[i % len(good_events)])
        if not ans.ok:
            raise ct.ContainerError(f"warm-up request {i} failed: {ans.error_type} {str(ans.body)[:200]}")
    for _, make, _ in BAD_INPUTS:
        c.invoke(make(images[0]))
    res.mem_warm_bytes, res.peak_warm_bytes = working_set(c), c.peak_memory_bytes()
    kinds: Counter[str] = Counter()
    bad_i = 0
    for i in range(1, n + 1):
        res.n += 1
        if i % every == 0:
            name, make, expected = BAD_INPUTS[bad_i % len(BAD_INPUTS)]
            bad_i += 1
            res.bad_n += 1
            ans = c.invoke(make(images[i % len(images)]))
            if ans.error_type == expected:
                res.typed_errors_ok += 1
            else:
                res.unexpected_errors += 1
                kinds[name] += 1
                res.examples.append(f"{name}: got {ans.error_type} {str(ans.body)[:120]}")
        else:
            ans = c.invoke(good_events[i % len(good_events)])
            if not ans.ok or ans.predictions is None or ans.meta.get("cold") is not False:
                res.unexpected_errors += 1
                kinds["good"] += 1
                res.examples.append(f"good #{i}: {ans.error_type} {str(ans.body)[:120]}")
        if progress and i % max(1, n // 10) == 0:
            progress(
                f"  soak {i}/{n}: {res.unexpected_errors} unexpected, "
                f"{res.typed_errors_ok}/{res.bad_n} typed errors"
            )
    res.mem_end_bytes, res.peak_end_bytes = working_set(c), c.peak_memory_bytes()
    res.wall_s = time.perf_counter() - t0
    res.errors_by_kind = dict(kinds)
    return res


def main(argv: list[str] | None = None) -> int:
    from bench.measure.images import fixed_images

    cfg = Settings.from_env()
    ap = argparse.ArgumentParser(description="Soak one image under the Lambda emulator.")
    ap.add_argument("--image", required=True, help="clothing-<image>:<model>-<variant>")
    ap.add_argument("--n", type=int, default=cfg.soak_n)
    ap.add_argument("--memory", type=int, default=1769)
    args = ap.parse_args(argv)
    cpus = min(args.memory / MB_PER_VCPU, cfg.host_cpus)
    target = ct.ContainerTarget("soak-cli", cfg.http_timeout_s, cfg.start_timeout_s)
    with target.start(Launch(args.image, args.memory, round(cpus, 3))) as c:
        res = run(c, fixed_images(cfg.agree_n), args.n, progress=lambda m: print(m, flush=True))
    out = {
        **asdict(res),
        "mem_growth_pct": res.mem_growth_pct,
        "peak_growth_pct": res.peak_growth_pct,
        "problems": res.problems(),
    }
    print(json.dumps(out, indent=2))
    return 1 if res.problems() else 0


if __name__ == "__main__":
    sys.exit(main())
