"""What each packaging form builds, how it runs locally as Lambda runs it, and its template parameters.

One class per core.catalogue.PACKAGING_FORMS entry, bound to it by ``form`` and looked up by name
(``FORMS[name]``): deploy's post-deploy check and the zip bench cell run ``local_image``, images/sam.py adds
``template_parameters``. A new form is one catalogue entry and one class added to the tuple below (a test
checks the registry covers the catalogue exactly), plus its template.yaml blocks named after
``logical_prefix(form.name)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Protocol

from core.catalogue import PACKAGING_FORMS, PackagingForm
from core.contracts import ContractError, PackageSummary
from images import build as imgbuild
from images import package


def logical_prefix(name: str) -> str:
    """Image kind or form -> template.yaml's name stem: tflite-runtime -> TfliteRuntime, zip -> Zip."""
    return "".join(part.capitalize() for part in name.split("-"))


class FormBuild(Protocol):
    """What a packaging form makes on this machine (images/build.py's image; images/package.py's zip)."""

    form: ClassVar[PackagingForm]

    def build(self, kind: str, model: str, variant: str, arch: str) -> str:
        """Build the form for image kind ``kind``'s model/variant; returns what it made (tag or folder)."""
        ...

    def local_image(self, image: str, folder: Path, arch: str) -> str:
        """A local image running the form's code as Lambda lays it out: ``image`` itself for the image form;
        the archives `make package` wrote in ``folder`` unpacked into the base for the zip."""
        ...

    def template_parameters(self, folder: Path) -> dict[str, str]:
        """template.yaml parameters deploying this form's function beside the winner's image (the image
        form's own are images.sam.parameters, from winner.json)."""
        ...


class ImageBuild:
    form: ClassVar[PackagingForm] = PACKAGING_FORMS["image"]

    def build(self, kind: str, model: str, variant: str, arch: str) -> str:
        return imgbuild.build_one(kind, model, variant, arch).tag

    def local_image(self, image: str, folder: Path, arch: str) -> str:
        return image

    def template_parameters(self, folder: Path) -> dict[str, str]:
        return {}


class ZipBuild:
    form: ClassVar[PackagingForm] = package.FORM

    def build(self, kind: str, model: str, variant: str, arch: str) -> str:
        if not self.form.carries(kind, variant):
            raise package.PackageError(
                f"the {self.form.description} carries {', '.join(self.form.kinds)} "
                f"({', '.join(self.form.variants)}), not {kind} {variant}"
            )
        package.package(model, variant, [arch])
        return str(package.OUT)

    def local_image(self, image: str, folder: Path, arch: str) -> str:
        return package.local_image(folder, arch)

    def template_parameters(self, folder: Path) -> dict[str, str]:
        """<Form>Function=true and <Form>ModelVariant=<what `make package` put in function.zip>."""
        try:
            summary = PackageSummary.load(folder)
        except (OSError, ContractError):
            raise SystemExit(f"{folder}/package.json is missing or unreadable: run `make package`") from None
        prefix = logical_prefix(self.form.name)
        return {f"{prefix}Function": "true", f"{prefix}ModelVariant": summary.variant}


FORMS: dict[str, FormBuild] = {b.form.name: b for b in (ImageBuild(), ZipBuild())}
