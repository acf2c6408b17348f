"""One way to write a file others read (write a temporary beside it, then rename) and one content digest.

A reader never sees a half-written manifest, winner or cache: the rename is atomic on one filesystem.
:func:`digest` is the single formula for an artefact's or a folder's content hash: the sha256 that
models/convert.py records in manifest.json, the handler reports as ``model_sha256`` and images/build.py
uses to decide whether an image's inputs changed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pathlib stays off the handler's cold path: it only reads (read_object, digest)
    from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``path`` to write (stream a CSV, a zip) that becomes ``path`` when the block
    ends without an exception, and is removed when it raises: no reader ever sees a half-written file."""
    from pathlib import Path

    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        tmp.replace(final)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any, indent: int | None = 2) -> None:
    """JSON with a trailing newline (the committed files' format), written atomically."""
    atomic_write_text(path, json.dumps(obj, indent=indent) + "\n")


def file_sha256(path: str | os.PathLike[str]) -> str:
    import hashlib  # not at module level: the handler's cold path reads digests from the manifest

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def digest(path: str | os.PathLike[str]) -> str:
    """sha256 of an artefact: a file's bytes; for a directory (a SavedModel), sha256 over each file in
    sorted relative-path order of ``relpath + NUL + the file's hex sha256``. Raises OSError if absent."""
    path = os.fspath(path)
    if os.path.isfile(path):
        return file_sha256(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(path)
    rels = [
        os.path.relpath(os.path.join(d, f), path).replace(os.sep, "/")
        for d, _, files in os.walk(path)
        for f in files
        if os.path.isfile(os.path.join(d, f))
    ]
    import hashlib

    h = hashlib.sha256()
    for rel in sorted(rels, key=lambda r: r.split("/")):
        h.update(rel.encode() + b"\0")
        h.update(file_sha256(os.path.join(path, rel)).encode())
    return h.hexdigest()


class ContractError(ValueError):
    """A contract file exists but is not what its writer writes; the message names the file."""


def read_object(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON object in ``path``; OSError when it cannot be read, ContractError when it is not one."""
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except ValueError as e:
        raise ContractError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise ContractError(f"{path}: expected a JSON object")
    return obj
