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

_GROUPS: dict[str, tuple[str, ...]] = {
    # --- the project's own modules: one entry each, so a test- or CLI-only module cannot sneak in
    "the handler itself": ("lambda_function",),
    "the handler's modules, each used by every image_b64 request (docs/ARCHITECTURE.md)": (
        "runtimes",
        "runtimes.base",
        "runtimes.card",
        "runtimes.decode",
        "runtimes.emf",
        "runtimes.events",
        "runtimes.handler_errors",
        "runtimes.limits",
        "runtimes.preprocess",
        "runtimes.sandbox",
        "runtimes.snapstart",
        "runtimes.structure",
    ),
    "the shared core the handler reads through (issue 18): settings (every environment variable via the "
    "registry), card (the model card), manifest + fileio (model_sha256 from manifest.json; the digest only "
    "without an entry), budget (the CPU share and timeout behind the decode budget)": (
        "core",
        "core.settings",
        "core.card",
        "core.manifest",
        "core.fileio",
        "core.budget",
    ),
    "the URL fetcher module itself (its network imports are inside its functions: see the test)": (
        "runtimes.fetch",
    ),
    "the runtime adapter the image serves (this test's: null)": ("runtimes.null",),
    # --- what every image needs to answer image_b64
    "numpy: arrays in and out of every runtime; its own import tree is not ours to cut": ("numpy.*",),
    "numpy's import pulls these stdlib modules in (numpy._core: ctypes, pickle, datetime; "
    "numpy.lib: platform)": (
        "ctypes.*",
        "_ctypes",
        "pickle",
        "_pickle",
        "_compat_pickle",
        "datetime",
        "_datetime",
        "platform",
        "struct",
        "_struct",
        "numbers",
        "copy",
        "contextlib",
        "textwrap",
    ),
    "Pillow core: decode and resize (runtimes/decode.py, runtimes/preprocess.py)": (
        "PIL",
        "PIL.Image",
        "PIL.ImageFile",
        "PIL.ImageMode",
        "PIL.ImageOps",
        "PIL.ImagePalette",
        "PIL.ImageColor",
        "PIL.ImageChops",
        "PIL.ImageSequence",
        "PIL.ExifTags",
        "PIL.TiffTags",
        "PIL.GimpGradientFile",
        "PIL.GimpPaletteFile",
        "PIL.PaletteFile",
        "PIL._binary",
        "PIL._deprecate",
        "PIL._imaging",
        "PIL._typing",
        "PIL._util",
        "PIL._version",
    ),
    "Pillow decoders of the allowed formats (runtimes/decode.py _PLUGINS), imported once at init so the "
    "forked decode child imports nothing; JPEG, PNG and WEBP need TiffImagePlugin for EXIF": (
        "PIL.JpegImagePlugin",
        "PIL.JpegPresets",
        "PIL.MpoImagePlugin",
        "PIL.PngImagePlugin",
        "PIL.WebPImagePlugin",
        "PIL._webp",
        "PIL.GifImagePlugin",
        "PIL.TiffImagePlugin",
        "fractions",
        "decimal",
        "_decimal",
    ),
    "Pillow's Image.preinit() (every Image.open, in the decode worker) imports its five core plugins, "
    "BMP and PPM included; DECODE_FORMATS still refuses those formats": (
        "PIL.BmpImagePlugin",
        "PIL.PpmImagePlugin",
    ),
    "the decode sandbox (runtimes/sandbox.py): resource for RLIMIT_AS/RLIMIT_CPU, gc to disable "
    "collection in the forked child, select/signal for the deadline": (
        "gc",
        "resource",
    ),
    "Pillow's JpegImagePlugin imports subprocess (and ImageFile logging) at module level": (
        "subprocess",
        "_posixsubprocess",
        "signal",
        "selectors",
        "select",
        "locale",
        "_locale",
        "fcntl",
        "errno",
        "logging",
        "string",
        "_string",
        "threading",
        "weakref",
        "_weakrefset",
        "atexit",
        "traceback",
        "linecache",
        "tokenize",
        "token",
        "_opcode",
        "opcode",
        "contextvars",
        "_contextvars",
    ),
    "the handler's standard library: events (json, base64, binascii, re, urllib.parse: API Gateway "
    "query strings), limits (ipaddress: ALLOW_URL_CIDRS parsed by Limits.from_env on every request), "
    "dataclasses, typing": (
        "json.*",
        "_json",
        "base64",
        "binascii",
        "re.*",
        "_sre",
        "enum",
        "urllib",
        "urllib.parse",
        "ipaddress",
        "dataclasses",
        "inspect",
        "ast",
        "_ast",
        "dis",
        "collections.*",
        "_collections",
        "functools",
        "_functools",
        "keyword",
        "operator",
        "_operator",
        "reprlib",
        "itertools",
        "types",
        "typing.*",
        "_typing",
        "__future__",
        "warnings",
        "copyreg",
        "io",
        "zlib",
        "array",
        "math",
        "bisect",
        "_bisect",
        "importlib.*",
        "_frozen_importlib_external",
    ),
    "hashlib: core/fileio.digest imports it where it hashes, which the handler does only for an artefact "
    "without a manifest entry, as the probe's bare card is (in the images the manifest carries the digest)": (
        "hashlib",
        "_hashlib",
        "_blake2",
        "_sha2",
        "_sha512",
        "_md5",
        "_sha1",
        "_sha3",
    ),
    "python 3.13's private halves of modules listed above (traceback -> _colorize, opcode -> "
    "_opcode_metadata, tokenize -> _tokenize), seen by the probe inside the images": (
        "_colorize",
        "_opcode_metadata",
        "_tokenize",
    ),
    "SnapStart hooks (runtimes/snapstart.py): present in the managed runtime and awslambdaric; the "
    "import is attempted at init by design, and a missing module is not recorded": ("snapshot_restore_py",),
}

#: pattern -> reason
ALLOWED: dict[str, str] = {p: reason for reason, patterns in _GROUPS.items() for p in patterns}

#: Modules that must never be on the image_b64 cold path, whatever the allowlist says: the URL fetch
#: stack (first {"url"} event only), the project's test- and CLI-only code, and what only tests use.
FORBIDDEN: tuple[str, ...] = (
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
