"""template.yaml parameters for results/winner.json, so `sam deploy` ships the winner `make deploy` ships.

The template has one function per image kind, each deployed only when its ``<Kind>ImageTag`` parameter
is set, and one per packaging form that is not an image (``<Form>Function=true``, images/forms.py); this
names the function and the parameters the winner needs::

    python -m images.sam params         # TfliteImageTag=reference-full-int8 MemorySize=1024 ...
    python -m images.sam params --zip   # ... ZipFunction=true ZipModelVariant=<what `make package` built>
    python -m images.sam function       # TfliteFunction
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.catalogue import DEFAULT_PACKAGING, PACKAGING_FORMS
from core.contracts import Winner
from core.paths import PACKAGE_DIR, WINNER_JSON
from images.forms import FORMS, logical_prefix

__all__ = ["form_parameters", "function_for", "logical_prefix", "parameters"]


def function_for(kind: str) -> str:
    return f"{logical_prefix(kind)}Function"


def parameters(winner: Winner) -> dict[str, str]:
    """The winner's image tag, memory, architecture and threads as template parameters, and the deploy
    mode with the cell it chose at the user's traffic (winner.json's ``mode`` block), so `sam deploy`
    ships what `make deploy` ships."""
    mode, cfg = winner.mode
    image = str(cfg.get("image") or winner.image)
    kind = image.split(":", 1)[0].removeprefix("clothing-") if cfg.get("image") else winner.image_kind
    out = {
        f"{logical_prefix(kind)}ImageTag": image.split(":", 1)[1],
        "MemorySize": str(cfg.get("memory_mb") or winner.memory_mb),
        "Architecture": winner.architecture,
        "Threads": str(winner.threads),
        "DeployMode": mode,
    }
    if mode == "provisioned":
        out["ProvisionedConcurrency"] = str(int(cfg.get("provisioned_environments", 1)))
    elif mode == "managed-instances":
        out["ManagedImage"] = image
        out["MemoryGiBPerVCpu"] = f"{float(cfg.get('memory_gib_per_vcpu', 2)):g}"
        out["MemorySize"] = str(max(2048, int(cfg.get("memory_mb") or 2048)))
        if cfg.get("processes_per_vcpu"):
            out["PerEnvironmentMaxConcurrency"] = str(int(cfg["processes_per_vcpu"]))
    return out


def form_parameters(name: str, folder: Path = PACKAGE_DIR) -> dict[str, str]:
    """Deploy packaging form ``name``'s function too (the zip + layer: the variant `make package` put in
    function.zip); the image form adds nothing to :func:`parameters`."""
    return FORMS[name].template_parameters(folder)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("params", "function"))
    ap.add_argument("--winner", type=Path, default=WINNER_JSON)
    others = [f for f in PACKAGING_FORMS.values() if f is not DEFAULT_PACKAGING]
    for f in others:
        ap.add_argument(f"--{f.name}", action="store_true", help=f"also the {f.description} function")
    args = ap.parse_args(argv)
    winner = Winner.load(args.winner)
    if args.what == "function":
        print(function_for(winner.image_kind))
    else:
        params = parameters(winner)
        for f in others:
            if getattr(args, f.name.replace("-", "_")):
                params |= form_parameters(f.name)
        print(" ".join(f"{k}={v}" for k, v in params.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
