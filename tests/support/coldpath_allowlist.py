"""Every module an ``image_b64`` cold start may load, each with the reason it is there.

tests/unit/test_coldpath.py runs the handler (null runtime) in a fresh interpreter and fails on any module
not matched here. A pattern is a module name, or ``name.*`` for the module and all its submodules. When
a change adds an import to the cold path, add it here *with the reason*: what request needs it at
import time. A reason that no longer holds is a module to move off the path (import it where it is used,
as runtimes/fetch.py does with the URL stack).

Interpreter-version details (the host test runs the venv's python, the images run 3.13) are covered by
naming the stdlib helper modules the listed ones pull in; the image check in scripts/coldstart.py runs the
same probe inside each image.
"""

from __future__ import annotations

from typing import Final

_GROUPS: dict[str, tuple[str, ...]] = {
    # --- the project's own modules: one entry each, so a test- or CLI-only module cannot sneak in
    "the handler itself": ("lambda_function",),
    "the handler's modules, each used by every image_b64 request (docs/ARCHITECTURE.md)": (
        "runtimes",
        "runtimes.base",
        "runtimes.decode",
        "runtimes.emf",
        "runtimes.events",
        "runtimes.exif",
        "runtimes.handler_errors",
        "runtimes.limits",
        "runtimes.preprocess",
        "runtimes.sandbox",
        "runtimes.snapstart",
        "runtimes.structure",
    ),
    "the shared core the handler reads through: settings (every environment variable via the registry), "
    "card (the model card), pipeline (the card's preprocessing, parsed with the card and sent to the decode "
    "worker with every request), fileio (its errors; the digest only runs without MODEL_SHA256), budget "
    "(the CPU share and timeout behind the decode budget)": (
        "core",
        "core.settings",
        "core.card",
        "core.pipeline",
        "core.fileio",
        "core.budget",
    ),
    "the runtime adapter the image serves (this test's: null)": ("runtimes.null",),
    # --- what every image needs to answer image_b64
    "numpy: arrays in and out of every runtime; its own import tree is not ours to cut": ("numpy.*",),
    "the standard library numpy's import loads (ctypes, pickle, datetime, inspect, json, re, typing...): "
    "the handler's own uses of these come free": (
        "_ast",
        "_collections",
        "_compat_pickle",
        "_contextvars",
        "_ctypes",
        "_datetime",
        "_functools",
        "_json",
        "_opcode",
        "_operator",
        "_pickle",
        "_sre",
        "_struct",
        "_typing",
        "_weakrefset",
        "ast",
        "collections.*",
        "contextlib",
        "contextvars",
        "copyreg",
        "ctypes.*",
        "datetime",
        "dis",
        "enum",
        "functools",
        "importlib",
        "importlib._bootstrap",
        "importlib._bootstrap_external",
        "importlib.machinery",
        "inspect",
        "itertools",
        "json.*",
        "keyword",
        "linecache",
        "math",
        "numbers",
        "opcode",
        "operator",
        "pickle",
        "platform",
        "re.*",
        "reprlib",
        "struct",
        "textwrap",
        "token",
        "tokenize",
        "types",
        "typing.*",
        "warnings",
        "weakref",
    ),
    "Pillow's Image (what the null floor imports too); the format plugins load in the decode worker": (
        "PIL",
        "PIL.ExifTags",
        "PIL.Image",
        "PIL.ImageMode",
        "PIL.TiffTags",
        "PIL._binary",
        "PIL._deprecate",
        "PIL._imaging",
        "PIL._util",
        "PIL._version",
        "__future__",
        "atexit",
    ),
    "the handler's own standard library beyond numpy's: dataclasses (+copy) for its frozen records, "
    "threading for the model lock, binascii for image_b64 (decoded and validated in C)": (
        "dataclasses",
        "copy",
        "threading",
        "binascii",
    ),
    "the decode sandbox (runtimes/sandbox.py): resource for RLIMIT_AS, gc to disable collection in the "
    "forked worker, select/signal for the deadline and the CPU timer": (
        "gc",
        "resource",
        "select",
        "signal",
    ),
    "SnapStart hooks (runtimes/snapstart.py): present in the managed runtime and awslambdaric; the "
    "import is attempted at init by design, and a missing module is not recorded": ("snapshot_restore_py",),
}

#: patterns only another interpreter's cold path loads (the images run 3.13): the host test cannot see
#: them, so the check that every entry is still on the path skips them
OTHER_PYTHON: Final = ("_opcode_metadata", "_tokenize")
_GROUPS[
    "python 3.13's private halves of modules listed above (opcode -> _opcode_metadata, tokenize -> "
    "_tokenize), seen by the probe inside the images"
] = OTHER_PYTHON

#: pattern -> reason
ALLOWED: dict[str, str] = {p: reason for reason, patterns in _GROUPS.items() for p in patterns}

#: Modules that must never be on the image_b64 cold path, whatever the allowlist says: the URL fetcher
#: and its stack (first {"url"} event only), the project's test- and CLI-only code, what only tests use.
FORBIDDEN: tuple[str, ...] = (
    # importlib.metadata: a library's version comes from its __version__ (runtimes.base.library_version);
    # hashlib / core.manifest: the images bake MODEL_SHA256, so no digest or manifest parse at INIT
    "importlib.metadata",
    "hashlib",
    "_hashlib",
    "core.manifest",
    "runtimes.fetch",
    "http.*",
    "email.*",
    "ssl",
    "_ssl",
    "socket",
    "_socket",
    "urllib.request",
    "argparse",
    "tests.*",
    "bench.*",
    "models.*",
    "images.*",
    "core.catalogue",
    "deploy.*",
    "tensorflow.*",
    "onnxruntime.*",
    "ai_edge_litert.*",
)


def matches(module: str, pattern: str) -> bool:
    if pattern.endswith(".*"):
        base = pattern[:-2]
        return module == base or module.startswith(base + ".")
    return module == pattern


def reason(module: str) -> str | None:
    """The recorded reason for ``module``, or None when nothing in ALLOWED matches it."""
    for pattern, why in ALLOWED.items():
        if matches(module, pattern):
            return why
    return None
