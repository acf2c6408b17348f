"""``python -m scripts.classify IMAGE_OR_URL``: classify one image with the Lambda handler, locally.

A smoke test from a shell; it lives outside lambda_function.py so the shipped handler holds only what
serves an invocation. Log lines go to stderr, the answer to stdout.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Classify one image with the Lambda handler, locally.")
    ap.add_argument("image", help="path to an image file, or an http(s) URL")
    ap.add_argument("--runtime", help="MODEL_RUNTIME (default: env, else tf on models/reference)")
    ap.add_argument("--model", help="MODEL_PATH (default: env, else models/reference/model.keras)")
    ap.add_argument("--card", help="MODEL_CARD (default: card.json beside the model)")
    ap.add_argument("--meta", action="store_true", help="also print timings and runtime info")
    return ap.parse_args(argv)


def _configure(args: argparse.Namespace) -> None:
    """The handler reads its settings from the environment: the flags set them, then the defaults."""
    for name, value in (
        ("MODEL_RUNTIME", args.runtime),
        ("MODEL_PATH", args.model),
        ("MODEL_CARD", args.card),
    ):
        if value:
            os.environ[name] = value
    reference = ROOT / "models" / "reference" / "model.keras"
    if not os.environ.get("MODEL_PATH") and reference.exists():
        os.environ["MODEL_PATH"] = str(reference)
        os.environ.setdefault("MODEL_RUNTIME", "tf")


def _event(image: str, meta: bool) -> dict[str, Any]:
    if image.startswith(("http://", "https://")):
        return {"url": image, "meta": meta}
    return {"image_b64": base64.b64encode(Path(image).read_bytes()).decode("ascii"), "meta": meta}


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    _configure(args)
    sys.path.insert(0, str(ROOT))
    with contextlib.redirect_stdout(sys.stderr):  # the handler's log lines
        import lambda_function
        from runtimes.handler_errors import BadInput, InternalError

        try:
            result = lambda_function.lambda_handler(_event(args.image, args.meta), None)
        except BadInput as e:
            print(f"{type(e).__name__}: {e}")
            return 2
        except InternalError as e:  # the log line above has the cause
            print(f"InternalError: {e}")
            return 3
    print(json.dumps(result, indent=2))
    predictions = result["predictions"] if args.meta else result
    top = max(predictions, key=predictions.__getitem__)
    print(f"top: {top} ({predictions[top]:.4f})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
