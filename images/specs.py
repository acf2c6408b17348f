"""What each image is: Dockerfile, pinned requirements, python, runtime, and artefact per variant.

Adding a runtime = one adapter file (runtimes/<name>.py) + one Dockerfile + one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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
#: link: the handler decodes JPEG/PNG/WebP/GIF/BMP/TIFF (runtimes/inputs.py), 8.5 MB uncompressed.
PRUNE_ALWAYS = ("bin", "PIL/_avif.*.so", "PIL/_imagingft.*.so", "PIL/_imagingcms.*.so", "PIL/_imagingtk.*.so",
                "pillow.libs/libavif-*", "pillow.libs/libfreetype-*", "pillow.libs/libharfbuzz-*",
                "pillow.libs/libbrotli*", "pillow.libs/liblcms2-*")


@dataclass(frozen=True)
class ImageSpec:
    name: str
    dockerfile: str
    requirements: str
    python: str
    runtime: str
    #: variant -> artefact path relative to build/models/<model>/
    variants: dict[str, str] = field(default_factory=dict)
    #: variants `make build-all` builds (those whose artefact exists)
    default_variants: tuple[str, ...] = ()
    #: paths (relative to the dependency tree, glob patterns allowed) that are build tooling, not runtime
    prune: tuple[str, ...] = ()

    def tag(self, model: str, variant: str) -> str:
        return f"{TAG_PREFIX}{self.name}:{model}-{variant}"

    @property
    def requirements_path(self) -> Path:
        return ROOT / self.requirements


TFLITE_VARIANTS = {
    "float32": "float32.tflite",
    "float16": "float16.tflite",
    "int8": "int8.tflite",
    "full-int8": "full-int8.tflite",
}

IMAGES: dict[str, ImageSpec] = {
    s.name: s
    for s in (
        # TensorFlow drags in build tooling it does not need to serve: setuptools, wheel, libclang (its
        # op-codegen's C++ parser) and 290 MB of C++ headers (for compiling custom ops).
        ImageSpec("tf", "Dockerfile.tf", "requirements/image-tf.txt", "3.13", "tf",
                  {"float32": "savedmodel"}, ("float32",),
                  prune=("tensorflow/include", "clang", "libclang-*.dist-info", "setuptools",
                         "setuptools-*.dist-info", "pkg_resources", "_distutils_hack",
                         "distutils-precedence.pth", "wheel", "wheel-*.dist-info")),
        # LiteRT's wheel also carries its CompiledModel/accelerator stack, which the Interpreter never
        # loads (its wrapper NEEDs only libpywrap_litert_common.so): the WebGPU accelerator, libLiteRt.so
        # (dlopened eagerly by `import ai_edge_litert` when present), NPU vendor compiler plugins and
        # the apply_plugin tool. 39 MB uncompressed; the container tests prove the image still serves.
        ImageSpec("tflite", "Dockerfile.tflite", "requirements/image-tflite.txt", "3.13", "tflite",
                  TFLITE_VARIANTS, ("float32", "float16", "int8", "full-int8"),
                  prune=("ai_edge_litert/libLiteRtWebGpuAccelerator.so", "ai_edge_litert/libLiteRt.so",
                         "ai_edge_litert/vendors", "ai_edge_litert/tools")),
        # The seed's runtime: tflite-runtime 2.14 (python <= 3.11, numpy < 2), same Dockerfile as tflite.
        ImageSpec("tflite-runtime", "Dockerfile.tflite", "requirements/image-tflite-runtime.txt", "3.11",
                  "tflite", TFLITE_VARIANTS, ("float32", "int8")),
        ImageSpec("onnx", "Dockerfile.onnx", "requirements/image-onnx.txt", "3.13", "onnx",
                  {"float32": "float32.onnx", "float32-opt": "float32-opt.onnx"}, ("float32", "float32-opt")),
        # The floor: handler + numpy/Pillow, no model library; "none" = no artefact, only the card.
        ImageSpec("null", "Dockerfile.null", "requirements/image-null.txt", "3.13", "null",
                  {"none": "card.json"}, ("none",)),
    )
}
