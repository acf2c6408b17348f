"""The fixed request images: test-split photos from $CLOTHING_DATASET, chosen evenly, never random."""

from __future__ import annotations

from functools import lru_cache

from models import dataset


@lru_cache(maxsize=8)
def fixed_paths(n: int) -> tuple[str, ...]:
    """``n`` test images spread evenly over the sorted split (so every class appears for n >= 10)."""
    samples = dataset.split("test")
    step = len(samples) / n
    return tuple(str(samples[int(i * step)].path) for i in range(n))


def fixed_images(n: int) -> list[bytes]:
    out = []
    for p in fixed_paths(n):
        with open(p, "rb") as f:
            out.append(f.read())
    return out
