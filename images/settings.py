"""The images package's settings (docs/ARCHITECTURE.md settings table), read through core/settings.py.

Only the base-image choice, the Debian mirror and the default model are configurable; what each image
contains is the catalogue (core/catalogue.py), not a setting.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.settings import read


@dataclass(frozen=True)
class ImagesSettings:
    base_image: str = ""  # $BASE_IMAGE: base of the python 3.13 images
    base_image_313: str = ""  # $BASE_IMAGE_313: wins over $BASE_IMAGE
    base_image_311: str = ""  # $BASE_IMAGE_311: base of the python 3.11 image (tflite-runtime)
    apt_mirror: str = ""  # $APT_MIRROR: Debian mirror for the local stand-in's rootfs
    model: str = "reference"  # $MODEL: default of `python -m images.build --model`

    @classmethod
    def from_env(cls) -> ImagesSettings:
        return cls(
            base_image=read("BASE_IMAGE", ""),
            base_image_313=read("BASE_IMAGE_313", ""),
            base_image_311=read("BASE_IMAGE_311", ""),
            apt_mirror=read("APT_MIRROR", ""),
            model=read("MODEL", "reference"),
        )

    def base_override(self, python: str) -> str | None:
        """The base image the user chose for this python: the per-version variable, else (3.13 only)
        $BASE_IMAGE, else None (use the AWS base or the local stand-in)."""
        specific = {"3.13": self.base_image_313, "3.11": self.base_image_311}.get(python, "")
        return specific or (self.base_image if python == "3.13" else "") or None
