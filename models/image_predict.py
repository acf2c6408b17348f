"""Runs INSIDE a serving image (python -I, stdlib + numpy + runtimes/ only): predict a batch file.

    python3 /eval/image_predict.py /eval/x.npy /eval/out THREADS [LIBRARY [BATCH]]

Loads the image's own artefact (MODEL_RUNTIME, MODEL_PATH baked into the image) with the shipped adapter,
writes ``logits.npy`` and ``meta.json`` (library, version, sha256 of the artefact bytes as they are in the
image) into the output folder. models/image_eval.py mounts the folder and reads both back, so accuracy is
measured on exactly the bytes that the image serves, by the library and python that the image ships.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

import numpy as np


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main(x_path: str, out_dir: str, threads: int, library: str = "", batch: int = 32) -> None:
    from runtimes import base, tflite

    runtime, path = os.environ["MODEL_RUNTIME"], os.environ["MODEL_PATH"]
    adapter = tflite.Adapter(libraries=(library,)) if library and runtime == "tflite" else base.get(runtime)
    adapter.load(path, threads)
    x = np.load(x_path)
    out = [adapter.predict(x[i : i + batch]) for i in range(0, len(x), batch)]
    np.save(os.path.join(out_dir, "logits.npy"), np.concatenate(out).astype(np.float32))
    meta = {
        "library": getattr(adapter, "library", runtime) or runtime,
        "library_version": adapter.version(),
        "sha256": file_sha256(path) if os.path.isfile(path) else None,
        "artefact": os.path.basename(path.rstrip("/")),
        "bytes": os.path.getsize(path) if os.path.isfile(path) else None,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
    }
    with open(os.path.join(out_dir, "meta.json"), "w") as f:
        json.dump(meta, f)


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        args[0],
        args[1],
        int(args[2]),
        args[3] if len(args) > 3 else "",
        int(args[4]) if len(args) > 4 else 32,
    )
