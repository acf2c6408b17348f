"""What only image building needs: the Lambda base images and what is pruned from every dependency tree.

The catalogue itself (image kinds, variants, architectures, tags) is core/catalogue.py.
"""

from __future__ import annotations

from dataclasses import dataclass


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
