"""The benchmark's one cell type and its one matrix.

A :class:`Cell` is what a container measurement is about: an image (kind, model, variant, architecture) at a
Lambda memory size, under the handler's thread policy or a forced thread count, in one repeat. The pytest
parametrisation (bench/conftest.py), the session plan and README's estimate (bench/measure/plan.py), the
full-split check (bench/measure/fullsplit.py) and the run rows (``image``, ``memory_mb``, ``threads``,
``repeat`` columns) all speak of cells in this shape; :func:`matrix` is the one enumeration of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from bench.measure.settings import Settings
from bench.measure.targets.base import Launch
from core import catalogue

#: The variants of (image kind, model) a matrix covers, in order.
VariantsOf = Callable[[str, str], Sequence[str]]


@dataclass(frozen=True)
class Cell:
    """One container cell: an image at a memory size (CPU share from :meth:`Settings.cpus_for`), with
    ``threads`` forced as MODEL_THREADS (None = the handler's policy), in repeat ``repeat``.

    ``tag`` is the catalogue's tag of (kind, model, variant, arch); ``image`` names an image the catalogue
    does not (the zip + layer's local image, kind ``zip``)."""

    kind: str
    model: str
    variant: str
    memory_mb: int
    threads: int | None = None
    repeat: int = 0
    arch: str = catalogue.DEFAULT_ARCH
    image: str | None = None

    @classmethod
    def of_tag(cls, tag: str, memory_mb: int, threads: int | None = None, repeat: int = 0) -> Cell:
        """The cell of a project image tag; ValueError for any other tag."""
        parsed = catalogue.parse_tag(tag)
        if parsed is None:
            raise ValueError(f"{tag} is not a project image tag")
        return cls(parsed.kind, parsed.model, parsed.variant, memory_mb, threads, repeat, parsed.arch)

    @property
    def tag(self) -> str:
        return self.image or catalogue.tag(self.kind, self.model, self.variant, self.arch)

    @property
    def forced(self) -> bool:
        """Threads forced by BENCH_THREADS: such a cell never feeds the winner."""
        return self.threads is not None

    def launch(self, s: Settings) -> Launch:
        """The cell as a target starts it: Lambda's CPU share of its memory on this host (``s.cpus_for``)."""
        return Launch(self.tag, self.memory_mb, s.cpus_for(self.memory_mb)[0], self.threads)

    def test_id(self, repeats: int) -> str:
        """The pytest id: ``<kind>-<model>-<variant>-<mem>MB[-t<threads>][-r<repeat>]`` (repeat only when the
        session has several)."""
        cid = f"{self.kind}-{self.model}-{self.variant}-{self.memory_mb}MB"
        cid += f"-t{self.threads}" if self.threads else ""
        return cid + (f"-r{self.repeat}" if repeats > 1 else "")

    def label(self) -> str:
        """How a progress line names the cell."""
        return f"{self.kind}:{self.model}-{self.variant} @ {self.memory_mb} MB r{self.repeat}"


def default_variants(kind: str, model: str) -> tuple[str, ...]:
    """What `make build-all` builds for an image kind (the catalogue's default variants)."""
    return catalogue.IMAGES[kind].default_variants


def images(s: Settings) -> list[tuple[str, str]]:
    """(image kind, model) pairs the settings ask for, in matrix order."""
    return [(kind, model) for kind in s.images for model in s.models]


def matrix(s: Settings, variants_of: VariantsOf = default_variants) -> list[Cell]:
    """Every container cell of settings ``s``: per image kind and model, each variant ``variants_of`` gives
    (the catalogue's defaults, or what is built locally) that BENCH_VARIANTS lets through, per repeat,
    memory size and thread setting (:meth:`Settings.threads_cells`)."""
    out = []
    for kind, model in images(s):
        for variant in variants_of(kind, model):
            if s.variants and variant not in s.variants:
                continue
            out += [
                Cell(kind, model, variant, mem, threads, rep)
                for rep in range(s.repeats)
                for mem in s.memory_mb
                for threads in s.threads_cells(mem)
            ]
    return out


def local_variants(tags: Iterable[str], arch: str = catalogue.DEFAULT_ARCH) -> VariantsOf:
    """``variants_of`` for the images present (``tags``): per (kind, model), the variants of ``arch``
    in tag order. Only x86_64 images by default: arm64 ones run emulated here, their timings no result."""
    found: dict[tuple[str, str], list[str]] = {}
    for tag in sorted(tags):
        parsed = catalogue.parse_tag(tag)
        if parsed is not None and parsed.arch == arch:
            found.setdefault((parsed.kind, parsed.model), []).append(parsed.variant)
    return lambda kind, model: found.get((kind, model), [])
