"""The packaging forms deploy ships, by name: one class per core.catalogue.PACKAGING_FORMS entry.

``PACKAGINGS[settings.package]`` picks the form's strategy (deploy/aws.py's Packaging protocol); nothing
compares a form's name. A new form is one catalogue entry and one class added to the tuple below (a test
checks the registry covers the catalogue exactly).
"""

from __future__ import annotations

from deploy.aws import ImagePackaging, Packaging
from deploy.settings import Settings
from deploy.zipdeploy import ZipPackaging

PACKAGINGS: dict[str, type[Packaging]] = {cls.form.name: cls for cls in (ImagePackaging, ZipPackaging)}


def for_settings(s: Settings) -> Packaging:
    """The strategy of the form ``s.package`` names (settings.load has checked it is a catalogue form)."""
    return PACKAGINGS[s.package].from_settings(s)
