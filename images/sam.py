"""template.yaml parameters for results/winner.json, so `sam deploy` ships the winner `make deploy` ships.

The template has one function per image kind, each deployed only when its ``<Kind>ImageTag`` parameter
is set; this names the function and the parameters the winner needs::

    python -m images.sam params         # TfliteImageTag=reference-full-int8 MemorySize=1024 ...
    python -m images.sam params --zip   # ... ZipFunction=true ZipModelVariant=<what `make package` built>
    python -m images.sam function       # TfliteFunction
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from images.specs import ROOT

WINNER = ROOT / "results" / "winner.json"
PACKAGE = ROOT / "build" / "package" / "package.json"


def logical_prefix(kind: str) -> str:
    """Image kind -> the template's name stem: tflite-runtime -> TfliteRuntime."""
    return "".join(part.capitalize() for part in kind.split("-"))


def function_for(kind: str) -> str:
    return f"{logical_prefix(kind)}Function"


def parameters(winner: dict) -> dict[str, str]:
    """The winner's image tag, memory, architecture and threads as template parameters."""
    kind = str(winner["image_kind"])
    tag = str(winner["image"]).split(":", 1)[1]
    return {
        f"{logical_prefix(kind)}ImageTag": tag,
        "MemorySize": str(winner["memory_mb"]),
        "Architecture": str(winner.get("architecture", "x86_64")),
        "Threads": str(winner.get("threads", 1)),
    }


def zip_parameters(package_json: Path = PACKAGE) -> dict[str, str]:
    """Deploy the zip + layer function too, with the variant `make package` put in function.zip."""
    try:
        summary = json.loads(package_json.read_text())
    except (OSError, ValueError):
        raise SystemExit(f"{package_json} is missing or unreadable: run `make package`") from None
    return {"ZipFunction": "true", "ZipModelVariant": str(summary["variant"])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("params", "function"))
    ap.add_argument("--winner", type=Path, default=WINNER)
    ap.add_argument("--zip", action="store_true", help="also the zip + layer function (after make package)")
    args = ap.parse_args(argv)
    winner = json.loads(args.winner.read_text())
    if args.what == "function":
        print(function_for(str(winner["image_kind"])))
    else:
        params = {**parameters(winner), **(zip_parameters() if args.zip else {})}
        print(" ".join(f"{k}={v}" for k, v in params.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
