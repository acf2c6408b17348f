"""The catalogue: image kinds, model variants and their artefacts, tag format, artefact folders.

The single source for these: images/, bench/, deploy/ and models/convert.py import it. Adding a runtime =
one adapter file (runtimes/<name>.py) + one Dockerfile + one ImageSpec here; adding a variant (e.g. an
ONNX int8) = one Variant entry in VARIANTS (+ its recipe in models/convert.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
TAG_PREFIX = "clothing-"
#: Label on every image, container and network the project makes, so a cleanup can find leftovers.
LABEL = "io.github.clothing-lambda"


@dataclass(frozen=True)
class BaseSpec:
    python: str  # "3.13"
    suite: str  # Debian suite whose python3 is that version
    aws_image: str  # what a user deploys on
    local_tag: str  # the stand-in built here when the AWS image cannot be pulled


BASES = {
    "3.13": BaseSpec("3.13", "trixie", "public.ecr.aws/lambda/python:3.13", "lambda-base:3.13"),
    "3.11": BaseSpec("3.11", "bookworm", "public.ecr.aws/lambda/python:3.11", "lambda-base:3.11"),
}


@dataclass(frozen=True)
class Arch:
    name: str  # the project's and Lambda's name: "x86_64" | "arm64"
    debian: str  # dpkg architecture (mmdebstrap --arch)
    machine: str  # uname -m; manylinux wheel suffix; aws-sam-cli's RIE is aws-lambda-rie-<name>
    oci: str  # image config "architecture"
    variant: str  # image config "variant" ("" for none)


#: Architectures an image can be built for (arm64 under qemu emulation on x86_64 hosts: images/arch.py).
ARCHS = {
    "x86_64": Arch("x86_64", "amd64", "x86_64", "amd64", ""),
    "arm64": Arch("arm64", "arm64", "aarch64", "arm64", "v8"),
}

#: Removed from every dependency tree before it is copied into an image: console scripts (their
#: shebangs name the host's python), byte-code compiled by the host's python (the image compiles its own).
#: Pillow's AVIF, font (FreeType/HarfBuzz), colour-management and Tk modules with the libraries only they
#: link: the handler decodes JPEG/PNG/WebP/GIF/BMP/TIFF (runtimes/decode.py), 8.5 MB uncompressed.
PRUNE_ALWAYS = (
    "bin",
    "PIL/_avif.*.so",
    "PIL/_imagingft.*.so",
    "PIL/_imagingcms.*.so",
    "PIL/_imagingtk.*.so",
    "pillow.libs/libavif-*",
    "pillow.libs/libfreetype-*",
    "pillow.libs/libharfbuzz-*",
    "pillow.libs/libbrotli*",
    "pillow.libs/liblcms2-*",
)


@dataclass(frozen=True)
class Variant:
    """One artefact a runtime serves: build/models/<model>/<path>."""

    runtime: str
    name: str  # the tag suffix: clothing-<image>:<model>-<name>
    path: str  # relative to build/models/<model>/
    precision: str  # float32 | float16 | int8 | none (the warm-latency bar compares float32 only)
    optional: bool = False  # `make build-all` skips it quietly when its artefact is missing


#: Every (runtime, variant) and its artefact, in the order tables list them.
VARIANTS: tuple[Variant, ...] = (
    Variant("tf", "float32", "savedmodel", "float32"),
    Variant("tflite", "float32", "float32.tflite", "float32"),
    Variant("tflite", "float16", "float16.tflite", "float16"),
    Variant("tflite", "int8", "int8.tflite", "int8"),
    Variant("tflite", "full-int8", "full-int8.tflite", "int8", optional=True),
    Variant("onnx", "float32", "float32.onnx", "float32"),
    Variant("onnx", "float32-opt", "float32-opt.onnx", "float32"),
    # ONNX Runtime's int8 (models/convert.py), so int8 meets int8: dynamic and static QDQ.
    Variant("onnx", "int8-dynamic", "int8-dynamic.onnx", "int8"),
    Variant("onnx", "int8-qdq", "int8-qdq.onnx", "int8"),
    # The floor: no artefact, only the card.
    Variant("null", "none", "card.json", "none"),
)
#: Variant names, longest first (so "full-int8" is found before "int8" when parsing a tag).
VARIANT_NAMES = tuple(sorted(dict.fromkeys(v.name for v in VARIANTS), key=len, reverse=True))
FLOAT32_VARIANTS = tuple(dict.fromkeys(v.name for v in VARIANTS if v.precision == "float32"))


def variants_of(runtime: str) -> dict[str, str]:
    """variant -> artefact path for one runtime."""
    return {v.name: v.path for v in VARIANTS if v.runtime == runtime}


def variant(runtime: str, name: str) -> Variant | None:
    return next((v for v in VARIANTS if v.runtime == runtime and v.name == name), None)


@dataclass(frozen=True)
class ImageSpec:
    name: str
    dockerfile: str
    requirements: str
    python: str
    runtime: str
    #: variants this image does not build by default (e.g. what tflite-runtime 2.14 cannot run)
    skip_variants: tuple[str, ...] = ()
    #: paths (relative to the dependency tree, glob patterns allowed) that are build tooling, not runtime
    prune: tuple[str, ...] = ()

    @property
    def variants(self) -> dict[str, str]:
        """variant -> artefact path relative to build/models/<model>/."""
        return variants_of(self.runtime)

    @property
    def default_variants(self) -> tuple[str, ...]:
        """The variants `make build-all` builds (those whose artefact exists, see images.build)."""
        return tuple(v for v in self.variants if v not in self.skip_variants)

    def tag(self, model: str, variant: str) -> str:
        return tag(self.name, model, variant)

    @property
    def requirements_path(self) -> Path:
        return ROOT / self.requirements


IMAGES: dict[str, ImageSpec] = {
    s.name: s
    for s in (
        # TensorFlow drags in build tooling it does not need to serve: setuptools, wheel, libclang (its
        # op-codegen's C++ parser) and 290 MB of C++ headers (for compiling custom ops).
        ImageSpec(
            "tf",
            "Dockerfile.tf",
            "requirements/image-tf.txt",
            "3.13",
            "tf",
            prune=(
                "tensorflow/include",
                "clang",
                "libclang-*.dist-info",
                "setuptools",
                "setuptools-*.dist-info",
                "pkg_resources",
                "_distutils_hack",
                "distutils-precedence.pth",
                "wheel",
                "wheel-*.dist-info",
            ),
        ),
        # LiteRT's wheel also carries its CompiledModel/accelerator stack, which the Interpreter never
        # loads (its wrapper NEEDs only libpywrap_litert_common.so): the WebGPU accelerator, libLiteRt.so
        # (dlopened eagerly by `import ai_edge_litert` when present), NPU vendor compiler plugins and
        # the apply_plugin tool. 39 MB uncompressed; the container tests prove the image still serves.
        ImageSpec(
            "tflite",
            "Dockerfile.tflite",
            "requirements/image-tflite.txt",
            "3.13",
            "tflite",
            prune=(
                "ai_edge_litert/libLiteRtWebGpuAccelerator.so",
                "ai_edge_litert/libLiteRt.so",
                "ai_edge_litert/vendors",
                "ai_edge_litert/tools",
            ),
        ),
        # The seed's runtime: tflite-runtime 2.14 (python <= 3.11, numpy < 2), same Dockerfile as tflite.
        ImageSpec(
            "tflite-runtime",
            "Dockerfile.tflite",
            "requirements/image-tflite-runtime.txt",
            "3.11",
            "tflite",
            skip_variants=("float16", "full-int8"),
        ),
        ImageSpec("onnx", "Dockerfile.onnx", "requirements/image-onnx.txt", "3.13", "onnx"),
        # The floor: handler + numpy/Pillow, no model library.
        ImageSpec("null", "Dockerfile.null", "requirements/image-null.txt", "3.13", "null"),
    )
}
IMAGE_KINDS: tuple[str, ...] = tuple(IMAGES)


# ------------------------------------------------------------------------------------------- tags
class Tag(NamedTuple):
    kind: str
    model: str
    variant: str


def tag(kind: str, model: str, variant: str) -> str:
    """clothing-<image>:<model>-<variant> (docs/ARCHITECTURE.md)."""
    return f"{TAG_PREFIX}{kind}:{model}-{variant}"


_TAG = re.compile(rf"^{re.escape(TAG_PREFIX)}(?P<kind>[a-z0-9-]+):(?P<rest>[A-Za-z0-9_.-]+)$")


def parse_tag(text: str) -> Tag | None:
    """clothing-<image>:<model>-<variant> -> Tag; None for anything else. A known variant suffix wins
    (reference-full-int8 is model reference, variant full-int8), else the last hyphen splits."""
    m = _TAG.match(text)
    if not m:
        return None
    rest = m["rest"]
    for name in VARIANT_NAMES:
        if rest.endswith("-" + name) and len(rest) > len(name) + 1:
            return Tag(m["kind"], rest[: -len(name) - 1], name)
    model, _, var = rest.rpartition("-")
    return Tag(m["kind"], model, var) if model and var else None


def runtime_of(kind: str) -> str:
    """The runtimes/ adapter an image kind serves with (tflite-runtime -> tflite)."""
    return IMAGES[kind].runtime if kind in IMAGES else kind


# ----------------------------------------------------------------------------------- model artefacts
MODELS_DIR = ROOT / "build" / "models"


def model_dir(name: str) -> Path:
    """build/models/<name>/: what models.convert writes and the images copy from."""
    return MODELS_DIR / name


def model_name(model: str) -> str:
    """MODEL (reference, xception, or a path to a .keras/.h5 with a card) -> the name used in tags."""
    if "/" not in model and not model.lower().endswith((".keras", ".h5")):
        return model
    from models import registry  # only for a user's own model file

    return registry.resolve(model).name
