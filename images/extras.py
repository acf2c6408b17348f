"""The pins a model's card adds to what its function installs: one answer for the image and the zip layer.

Which loader needs which package is the runtime's to say (runtimes/preprocess.py ``LOADER_EXTRAS``: the
handler checks the same list at INIT). Here they become full pins from requirements/dev.lock, so a
function decodes with the version the host's evaluation and skew check measured. images/build.py
resolves them into the image's dependency tree and images/package.py into the layer, each through
``images.build.wheelhouse``: a card without extras asks for none, so its tree, wheelhouse key and layer
are the requirements' alone. simplejpeg's wheels (manylinux_2_17, cp311 and cp313, x86_64 and aarch64)
need only numpy (>= 1.19.3), which every image pins (the tflite-runtime image's numpy 1.26.4 included).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Final

from core.card import read_card
from core.paths import ROOT
from runtimes.preprocess import LOADER_EXTRAS

DEV_LOCK: Final = ROOT / "requirements" / "dev.lock"


class ExtrasError(RuntimeError):
    """The card needs a package requirements/dev.lock does not pin."""


def canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503, without collapsing runs)."""
    return name.lower().replace("_", "-").replace(".", "-")


def pinned(lines: Iterable[str]) -> dict[str, tuple[str, str]]:
    """The full pins of requirements lines (``name==version``, comments dropped): canonical name ->
    (name as written, version). The one reader of a requirements or lock file's pins."""
    out = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, ver = (part.strip() for part in line.split("==", 1))
            out[canonical(name)] = (name, ver)
    return out


def pins(names: tuple[str, ...], lock: Path | None = None) -> tuple[str, ...]:
    """``name==version`` for each of ``names``, from ``lock`` (default requirements/dev.lock), in order."""
    if not names:
        return ()
    lock = lock or DEV_LOCK
    found = {key: f"{name}=={ver}" for key, (name, ver) in pinned(lock.read_text().splitlines()).items()}
    absent = [n for n in names if canonical(n) not in found]
    if absent:
        raise ExtrasError(
            f"{lock.name} pins none of {', '.join(absent)}: the card's loader needs them in its function"
        )
    return tuple(found[canonical(n)] for n in names)


def card_extras(folder: Path) -> tuple[str, ...]:
    """The full pins the model in ``folder`` (its card.json) needs beyond its image's requirements."""
    return pins(LOADER_EXTRAS.get(read_card(folder / "card.json").pipeline.loader, ()))
