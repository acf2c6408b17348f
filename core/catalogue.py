"""The catalogue: architectures, model variants (artefact + conversion recipe), image kinds and tags.

The single source for these: images/, bench/, deploy/ and models/ import it. Adding a runtime = one
adapter file (runtimes/<name>.py) + one Dockerfile + one ImageSpec here; adding a variant = one Variant
here + its recipe (the Converter method named by ``Variant.recipe``) in models/convert.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NamedTuple

from core.paths import ROOT

TAG_PREFIX: Final = "clothing-"
#: Label on every image, container and network the project makes, so a cleanup can find leftovers.
LABEL: Final = "io.github.clothing-lambda"


# ------------------------------------------------------------------------------------- architectures
@dataclass(frozen=True)
class Arch:
    name: str  # the project's and Lambda's name: "x86_64" | "arm64"
    debian: str  # dpkg architecture (mmdebstrap --arch)
    machine: str  # uname -m; manylinux wheel suffix; aws-sam-cli's RIE is aws-lambda-rie-<name>
    oci: str  # image config "architecture" (what `docker inspect` reports)
    variant: str  # image config "variant" ("" for none)


#: Architectures an image can be built for and Lambda runs (arm64 under qemu emulation on x86_64 hosts).
ARCHS: Final = {
    "x86_64": Arch("x86_64", "amd64", "x86_64", "amd64", ""),
    "arm64": Arch("arm64", "arm64", "aarch64", "arm64", "v8"),
}
#: The architecture with no tag suffix, Lambda's default, and the one benchmarks time on.
DEFAULT_ARCH: Final = "x86_64"
ARCH_NAMES: Final = tuple(ARCHS)


def arch_of_oci(oci: str) -> str | None:
    """docker's architecture name (amd64, arm64) -> Lambda's (x86_64, arm64); None when unknown."""
    return next((a.name for a in ARCHS.values() if a.oci == oci), None)


# ------------------------------------------------------------------------------------------ variants
@dataclass(frozen=True)
class Variant:
    """One artefact a runtime serves: build/models/<model>/<path>, made by models/convert.py's ``recipe``."""

    runtime: str
    name: str  # the tag suffix: clothing-<image>:<model>-<name>
    path: str  # relative to build/models/<model>/
    precision: str  # float32 | float16 | int8 | none (the warm-latency bar compares float32 only)
    recipe: str  # the models/convert.py Converter method that makes it ("" = nothing to convert)
    optional: bool = False  # `make build-all` skips it quietly when its artefact is missing


#: Every (runtime, variant) and its artefact, in the order tables list them.
VARIANTS: Final[tuple[Variant, ...]] = (
    Variant("tf", "float32", "savedmodel", "float32", "savedmodel"),
    Variant("tflite", "float32", "float32.tflite", "float32", "float32_tflite"),
    Variant("tflite", "float16", "float16.tflite", "float16", "float16_tflite"),
    Variant("tflite", "int8", "int8.tflite", "int8", "int8_tflite"),
    Variant("tflite", "full-int8", "full-int8.tflite", "int8", "full_int8_tflite", optional=True),
    Variant("onnx", "float32", "float32.onnx", "float32", "float32_onnx"),
    Variant("onnx", "float32-opt", "float32-opt.onnx", "float32", "float32_opt_onnx"),
    # ONNX Runtime's int8 (models/convert.py), so int8 meets int8: dynamic and static QDQ.
    Variant("onnx", "int8-dynamic", "int8-dynamic.onnx", "int8", "int8_dynamic_onnx"),
    Variant("onnx", "int8-qdq", "int8-qdq.onnx", "int8", "int8_qdq_onnx"),
    # The floor: no artefact, only the card.
    Variant("null", "none", "card.json", "none", ""),
)
#: Variant names, longest first (so "full-int8" is found before "int8" when parsing a tag).
VARIANT_NAMES: Final = tuple(sorted(dict.fromkeys(v.name for v in VARIANTS), key=len, reverse=True))
FLOAT32_VARIANTS: Final = tuple(dict.fromkeys(v.name for v in VARIANTS if v.precision == "float32"))
#: The variants models/convert.py makes (every one with a recipe), in conversion order.
CONVERTED: Final = tuple(v for v in VARIANTS if v.recipe)


def variants_of(runtime: str) -> dict[str, str]:
    """variant -> artefact path for one runtime."""
    return {v.name: v.path for v in VARIANTS if v.runtime == runtime}


def variant(runtime: str, name: str) -> Variant | None:
    """The catalogue entry of one runtime's variant; None when that runtime has no such variant."""
    return next((v for v in VARIANTS if v.runtime == runtime and v.name == name), None)


# -------------------------------------------------------------------------------------- image kinds
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

    def tag(self, model: str, variant: str, arch: str = DEFAULT_ARCH) -> str:
        return tag(self.name, model, variant, arch)

    @property
    def requirements_path(self) -> Path:
        return ROOT / self.requirements


IMAGES: Final[dict[str, ImageSpec]] = {
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
        # tflite-runtime 2.14 (python <= 3.11, numpy < 2), same Dockerfile as tflite.
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
IMAGE_KINDS: Final[tuple[str, ...]] = tuple(IMAGES)


def runtime_of(kind: str) -> str:
    """The runtimes/ adapter an image kind serves with (tflite-runtime -> tflite)."""
    return IMAGES[kind].runtime if kind in IMAGES else kind


# ---------------------------------------------------------------------------------------------- tags
class Tag(NamedTuple):
    """clothing-<kind>:<model>-<variant>[-<arch>]: the architecture suffix is absent for x86_64."""

    kind: str
    model: str
    variant: str
    arch: str = DEFAULT_ARCH

    def __str__(self) -> str:
        return tag(self.kind, self.model, self.variant, self.arch)


_TAG = re.compile(rf"^{re.escape(TAG_PREFIX)}(?P<kind>[a-z0-9-]+):(?P<rest>[A-Za-z0-9_.-]+)$")
_ARCH_SUFFIXES = tuple((f"-{a}", a) for a in ARCH_NAMES if a != DEFAULT_ARCH)


def tag(kind: str, model: str, variant: str, arch: str = DEFAULT_ARCH) -> str:
    """The one tag format (docs/ARCHITECTURE.md). Refuses a combination that would parse back as another
    one (a model named ``x-full`` with variant ``int8`` reads as model ``x``, variant ``full-int8``); a
    pattern such as variant ``*`` (for messages) is not a tag and is returned as is."""
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose from {', '.join(ARCH_NAMES)}")
    text = f"{TAG_PREFIX}{kind}:{model}-{variant}" + ("" if arch == DEFAULT_ARCH else f"-{arch}")
    back = parse_tag(text)
    if back is not None and back != (kind, model, variant, arch):
        raise ValueError(f"{text!r} would not parse back as image {kind}, model {model}, variant {variant}")
    return text


def _split(rest: str) -> tuple[str, str] | None:
    """<model>-<variant>: a known variant suffix wins (reference-full-int8 is model reference, variant
    full-int8), else the last hyphen splits."""
    for name in VARIANT_NAMES:
        if rest.endswith("-" + name) and len(rest) > len(name) + 1:
            return rest[: -len(name) - 1], name
    model, _, var = rest.rpartition("-")
    return (model, var) if model and var else None


def parse_tag(text: str) -> Tag | None:
    """clothing-<image>:<model>-<variant>[-<arch>] -> Tag; None for anything else."""
    m = _TAG.match(text)
    if not m:
        return None
    rest, arch = m["rest"], DEFAULT_ARCH
    for suffix, name in _ARCH_SUFFIXES:
        if rest.endswith(suffix) and _split(rest[: -len(suffix)]):
            rest, arch = rest[: -len(suffix)], name
            break
    parts = _split(rest)
    return Tag(m["kind"], parts[0], parts[1], arch) if parts else None


# ----------------------------------------------------------------------------------- packaging forms
# The ways the function's code reaches Lambda. deploy/packaging.py (what a form does at deploy time) and
# images/forms.py (what it builds, how it runs locally, its template parameters) register one class per
# entry, bound to it by name; a test checks both registries cover exactly these entries. Adding a form =
# one entry here + one class in each registry (+ its template.yaml blocks, named after the form).
@dataclass(frozen=True)
class PackagingForm:
    """One packaging form and the data the forms differ by (deploy, images and bench read these fields;
    nothing outside this section compares a form's name)."""

    name: str  # deploy's --package value, the bench cell's image_kind, the price table's key
    package_type: str  # Lambda's PackageType ("Image" | "Zip")
    kinds: tuple[str, ...]  # image kinds whose handler, runtime and variants the form can carry
    #: the code is the winner's local image (deploy reads its tag); False: built on its own (`make package`)
    #: and described by its own manifest, so winner.json's image does not apply
    from_image: bool = True
    snapstart: bool = False  # Lambda SnapStart applies (managed python 3.12+ runtimes, zip only)
    managed_instances: bool = True  # deploy ships it onto Lambda Managed Instances
    #: repository of the local image that runs the form as Lambda lays it out (deploy's check, the bench
    #: cell); "" = the form's code is an image already. Not clothing-*: those are discovered as cells.
    local_repo: str = ""
    description: str = ""

    @property
    def managed_runtime(self) -> str:
        """Lambda's managed runtime of a form that is not an image (python<version of its kind>), else ""."""
        return "" if self.from_image else f"python{IMAGES[self.kinds[0]].python}"

    @property
    def variants(self) -> dict[str, str]:
        """variant -> artefact path of every variant the form can carry, in the catalogue's order."""
        out: dict[str, str] = {}
        for kind in self.kinds:
            out |= {k: v for k, v in IMAGES[kind].variants.items() if k not in out}
        return out

    def carries(self, kind: str, variant: str) -> bool:
        """Whether the form can ship image kind ``kind``'s ``variant``."""
        return kind in self.kinds and variant in IMAGES[kind].variants


PACKAGING_FORMS: Final[dict[str, PackagingForm]] = {
    f.name: f
    for f in (
        PackagingForm("image", "Image", IMAGE_KINDS, description="container image (ECR)"),
        # The TFLite (LiteRT) function on the python3.13 managed runtime: function.zip + a dependency layer.
        PackagingForm(
            "zip",
            "Zip",
            ("tflite",),
            from_image=False,
            snapstart=True,
            managed_instances=False,
            local_repo="lambda-zip-local",
            description="function.zip + layer",
        ),
    )
}
PACKAGING_NAMES: Final = tuple(PACKAGING_FORMS)
#: What deploy ships unless told otherwise: the first form, the image winner.json names.
DEFAULT_PACKAGING: Final = PACKAGING_FORMS[PACKAGING_NAMES[0]]


def packaging_form(name: object) -> PackagingForm | None:
    """The form named ``name`` (a --package value, a bench row's image_kind); None when it names none."""
    return PACKAGING_FORMS.get(name) if isinstance(name, str) else None
