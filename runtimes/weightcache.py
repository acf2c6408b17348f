"""The XNNPACK weight cache beside a TFLite artefact: written once when the image is built, mapped at load.

XNNPACK repacks every weight into its kernels' layout whenever a model loads; for an Xception-size model
that is most of LiteRT's load. LiteRT's ``CompiledModel`` can instead map a cache file of packed weights
(``CpuOptions.xnnpack_weight_cache_path``, a file path; XNNPACK opens it read-only, so it works in the
read-only /var/task). The image build writes it (``python -m runtimes.tflite ARTEFACT`` in
Dockerfile.tflite, on the build host's CPU) with a sidecar, ``<artefact>.xnnpack.json``, that says which
engine serves the artefact and what the cache was written for.

Why the sidecar is checked before the cache is used: XNNPACK itself rejects a truncated cache, or one
written for a model of another structure, and packs in memory instead; but a cache written for a model
of the *same* structure with other weights (a retrained model) is used silently and answers with the old
weights (docs/images.md, tests/integration/test_weight_cache.py). Packed layouts also depend on the
kernels XNNPACK picks for the CPU's vector extensions. So the cache is used only when the sidecar names
this artefact (sha256 and size), this library version, this machine and the same vector ISA; otherwise
the adapter packs at load with the classic ``Interpreter`` and logs one JSON line saying why.
Everything here runs at INIT: stdlib only, no hashing (the sha256 comes from MODEL_SHA256).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any

CACHE_SUFFIX = ".xnnpack"
SIDECAR_SUFFIX = ".xnnpack.json"
COMPILED = "compiled"
INTERPRETER = "interpreter"
#: The artefact variants served through CompiledModel and its cache (the rest keep the Interpreter):
#: each was at least as fast warm as the Interpreter on the Xception-size model (docs/images.md).
CACHED_VARIANTS = frozenset({"float32", "float16", "int8", "full-int8"})
#: Below this artefact size the Interpreter serves: CompiledModel adds a fixed cost per load and per call
#: (its environment, tensor-buffer copies) while the cache saves packing in proportion to the weights. Set
#: between the measured sizes (docs/images.md, paired warm runs): the reference model's 0.7-2.5 MB artefacts
#: ran 2-3 % slower warm and loaded slower; the Xception-size model's 22-84 MB ones ran 1-8 % faster warm.
#: The image build's WEIGHT_CACHE_MIN_BYTES overrides it (the tests force a cache on the small model).
CACHE_MIN_BYTES = 8 * 2**20
#: x86 /proc/cpuinfo flags that decide XNNPACK's kernels (SIMD extensions); other flags do not matter.
X86_ISA_PREFIXES = ("sse", "ssse3", "avx", "fma", "f16c", "amx", "xop")


class WeightCacheError(RuntimeError):
    """The build could not write a cache for the artefact it was asked to (the build fails)."""


def cache_path(artefact: str) -> str:
    return artefact + CACHE_SUFFIX


def sidecar_path(artefact: str) -> str:
    return artefact + SIDECAR_SUFFIX


def cpu_signature(cpuinfo: str = "/proc/cpuinfo") -> dict[str, Any]:
    """This machine and its vector ISA as XNNPACK would see it: x86 SIMD flags or arm Features."""
    isa: list[str] = []
    try:
        with open(cpuinfo) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "flags":
                    isa = [x for x in value.split() if x.startswith(X86_ISA_PREFIXES)]
                    break
                if key.strip() == "Features":
                    isa = value.split()
                    break
    except OSError:
        pass
    return {"machine": os.uname().machine, "isa": sorted(isa)}


@dataclass(frozen=True)
class Plan:
    """How the adapter serves one artefact: the engine, the cache to map ("" for none), the quantisation
    of input and output the sidecar recorded (CompiledModel's tensor details carry none), and why."""

    engine: str
    cache: str = ""
    reason: str = ""
    io: dict[str, Any] = field(default_factory=dict)
    #: a fallback worth logging (the image meant to serve from a cache and cannot)
    fallback: bool = False


def _expected_sha256(artefact: str) -> str | None:
    """The artefact's sha256 without hashing it: MODEL_SHA256 when MODEL_PATH is this artefact (images
    bake both), else core.card's lookup (manifest, then a digest: host tests only)."""
    env_path = os.environ.get("MODEL_PATH", "").rstrip("/")
    if (
        os.environ.get("MODEL_SHA256")
        and env_path
        and os.path.realpath(env_path) == os.path.realpath(artefact)
    ):
        return os.environ["MODEL_SHA256"]
    from core.card import artefact_sha256

    return artefact_sha256(artefact, env={})


def mismatch(side: dict[str, Any], artefact: str, library: str, version: str) -> str:
    """Why the sidecar's cache cannot serve this artefact here ("" when it can)."""
    cache = cache_path(artefact)
    if not os.path.isfile(cache):
        return "cache file missing"
    if side.get("cache_bytes") != os.path.getsize(cache):
        return "cache file size differs from the sidecar's"
    if side.get("artefact_bytes") != os.path.getsize(artefact):
        return "artefact size differs from the sidecar's"
    if (side.get("library"), side.get("library_version")) != (library, version):
        written = f"{side.get('library')} {side.get('library_version')}"
        return f"written by {written}, loading with {library} {version}"
    cpu = cpu_signature()
    if side.get("machine") != cpu["machine"] or side.get("isa") != cpu["isa"]:
        return f"written for another CPU ({side.get('machine')}, ISA differs)"
    if side.get("artefact_sha256") != _expected_sha256(artefact):
        return "written for another artefact (sha256 differs)"
    return ""


def plan(artefact: str, library: str, version: str) -> Plan:
    """Read and check the sidecar: CompiledModel with the cache, or the Interpreter (and why)."""
    try:
        with open(sidecar_path(artefact)) as f:
            side = json.load(f)
    except FileNotFoundError:
        return Plan(INTERPRETER, reason="no sidecar", fallback=True)
    except (OSError, ValueError) as e:
        return Plan(INTERPRETER, reason=f"sidecar unreadable: {e}", fallback=True)
    if side.get("engine") != COMPILED:
        return Plan(INTERPRETER, reason=str(side.get("reason", "the build chose the Interpreter")))
    why = mismatch(side, artefact, library, version)
    if why:
        return Plan(INTERPRETER, reason=why, fallback=True)
    return Plan(COMPILED, cache_path(artefact), "cache matches", dict(side.get("io", {})))


def log_fallback(artefact: str, p: Plan) -> None:
    """One JSON line (CloudWatch, the emulator's log) when an image meant to map a cache packs instead."""
    record = {"msg": "weight_cache_fallback", "artefact": os.path.basename(artefact), "reason": p.reason}
    print(json.dumps(record), file=sys.stdout, flush=True)


# --- build time (runtimes/tflite.py's write_cache loads the model and calls these) -----------------------


def clear(artefact: str) -> None:
    """Remove a previous cache and sidecar (a rebuild must not keep a stale pair)."""
    for stale in (cache_path(artefact), sidecar_path(artefact)):
        if os.path.exists(stale):
            os.unlink(stale)


def save(artefact: str, side: dict[str, Any]) -> None:
    """Write the sidecar, recording the cache's size when the engine is CompiledModel."""
    if side["engine"] == COMPILED:
        cache = cache_path(artefact)
        if not os.path.isfile(cache) or os.path.getsize(cache) == 0:
            raise WeightCacheError(f"LiteRT wrote no weight cache at {cache}")
        side.update(cache=os.path.basename(cache), cache_bytes=os.path.getsize(cache))
    with open(sidecar_path(artefact), "w") as f:
        json.dump(side, f, indent=1, sort_keys=True)
