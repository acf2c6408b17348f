"""The one Lambda handler every image ships: clothing classifier, any runtime.

The image bakes in ``MODEL_RUNTIME`` (tf / tflite / onnx / null), ``MODEL_PATH`` (the artefact) and
optionally ``MODEL_CARD`` (default ``card.json`` beside the artefact); the card gives class order,
the output kind and the preprocessing pipeline (core/pipeline.py: size, channels, resize, value
scale). The model loads once per sandbox: at import when running under a Lambda runtime
(``AWS_LAMBDA_RUNTIME_API`` set, so the init phase pays for it), otherwise lazily on the first call.
Either way ``init_ms`` is that load time and only the sandbox's first invocation reports ``cold: true``.
The limits and settings are read at the same moment, once per sandbox.

Events, limits and errors: docs/handler.md (code: ``runtimes/events.py``, ``runtimes/fetch.py``,
``runtimes/decode.py``, ``runtimes/limits.py``, ``runtimes/handler_errors.py``). Timing fields:
``fetch_ms`` = obtaining the image bytes (base64 decode or download, incl. redirects),
``preprocess_ms`` = validate + decode + resize + scale, ``inference_ms`` = the runtime's predict.

Smoke test from a shell (scripts/classify.py; the handler module serves invocations only)::

    MODEL_RUNTIME=tflite MODEL_PATH=build/models/reference/float32.tflite python -m scripts.classify shirt.jpg
    python -m scripts.classify --runtime tf --model models/reference/model.keras https://example.com/x.jpg

Only stdlib, numpy, Pillow and ``runtimes`` are imported here (see docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.card import Card, CardError, artefact_sha256, read_card
from runtimes import base, decode, emf, events, preprocess, snapstart
from runtimes.handler_errors import BadInput, InternalError
from runtimes.limits import Limits

HERE = os.path.dirname(os.path.abspath(__file__))
#: HANDLER_META: who may ask for ``meta`` (timings, pid, library versions, model hash). "direct"
#: (default): direct invokes only, which need lambda:InvokeFunction; "all": HTTP callers too;
#: "off": nobody.
META_ACCESS = ("direct", "all", "off")


class ModelConfigError(RuntimeError):
    """MODEL_RUNTIME / MODEL_PATH / card missing or inconsistent: a deployment bug, answered as 500."""


@dataclass(frozen=True)
class Model:
    adapter: base.Runtime
    card: Card
    runtime: str
    runtime_version: str
    threads: int
    path: str
    init_ms: float
    init_at: str  # "import" or "invoke"
    sha256: str | None
    limits: Limits
    meta_access: str


_MODEL: Model | None = None
_INVOCATIONS = 0
_LOCK = threading.Lock()


def _init(init_at: str) -> Model:
    """Read the card and load the runtime once; ``init_ms`` covers exactly this."""
    t0 = time.perf_counter()
    name = os.environ.get("MODEL_RUNTIME", "").strip()
    if not name:
        raise ModelConfigError(f"MODEL_RUNTIME is not set (one of {', '.join(base.known())})")
    path = os.environ.get("MODEL_PATH", "").strip().rstrip("/")
    if not path:
        raise ModelConfigError("MODEL_PATH is not set (the artefact inside the image)")
    card_path = os.environ.get("MODEL_CARD") or os.path.join(os.path.dirname(path), "card.json")
    try:
        card = read_card(card_path)
        adapter = base.get(name)
        limits = Limits.from_env(quota=base.cgroup_cpu_limit())
    except (CardError, ValueError) as e:
        raise ModelConfigError(str(e)) from None
    preprocess.require_extras(card.pipeline)  # a decoder the build left out: INIT fails, once
    decode.prepare()
    threads = base.default_threads()
    adapter.load(path, threads)
    version = adapter.version()
    init_ms = (time.perf_counter() - t0) * 1000
    sha = artefact_sha256(path)
    return Model(adapter, card, name, version, threads, path, init_ms, init_at, sha, limits, _meta_access())


def _meta_access() -> str:
    """HANDLER_META (see META_ACCESS); an unknown value is a deployment bug, never silently open."""
    access = os.environ.get("HANDLER_META", "").strip().lower() or "direct"
    if access not in META_ACCESS:
        raise ModelConfigError(f"HANDLER_META={access!r} is not one of {', '.join(META_ACCESS)}")
    return access


def _model() -> Model:
    global _MODEL
    with _LOCK:
        if _MODEL is None:
            _MODEL = _init("invoke")
        return _MODEL


def _log(record: dict[str, Any]) -> None:
    """One JSON line on stdout; Lambda ships it to CloudWatch, bench parses it."""
    line = json.dumps(emf.embed(record), default=str)  # also a CloudWatch EMF record (runtimes/emf.py)
    print(line, file=sys.stdout, flush=True)


def _http(status: int, payload: Any) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps(payload),
        "isBase64Encoded": False,
    }


def _meta_allowed(req: events.Request, access: str) -> bool:
    """Whether this request may see meta (HANDLER_META, see META_ACCESS)."""
    return req.meta and (access == "all" or (access == "direct" and req.kind == "direct"))


def _image_bytes(req: events.Request, limits: Limits) -> bytes:
    if req.url is not None:
        from runtimes import fetch  # the first {"url"} event pays it: an image_b64 sandbox never does

        return fetch.fetch_url(req.url, limits)
    if req.b64 is not None:
        return events.decode_base64(req.b64, limits.max_body_bytes, "image_b64")
    if req.data is None:
        raise RuntimeError("Request carries none of url, b64, data")
    return req.data


def _classify(req: events.Request, model: Model) -> tuple[dict[str, float], dict[str, Any]]:
    """Fetch, preprocess, infer; returns predictions and the timing fields."""
    t0 = time.perf_counter()
    data = _image_bytes(req, model.limits)
    t1 = time.perf_counter()
    decoded = decode.to_array(data, model.limits, model.card.pipeline)
    t2 = time.perf_counter()
    out = np.asarray(model.adapter.predict(decoded.array[np.newaxis]))
    t3 = time.perf_counter()
    n = len(model.card.classes)
    if out.shape != (1, n):
        raise RuntimeError(f"runtime {model.runtime} returned shape {out.shape}, card has {n} classes")
    predictions = {c: float(v) for c, v in zip(model.card.classes, out[0].tolist(), strict=True)}
    timings = {
        "fetch_ms": round((t1 - t0) * 1000, 3),
        "preprocess_ms": round((t2 - t1) * 1000, 3),
        "inference_ms": round((t3 - t2) * 1000, 3),
        "bytes": len(data),
        "image_wh": list(decoded.wh),
        "decode_cpu_ms": decoded.cpu_ms,
        "decode_peak_mb": decoded.peak_mb,
    }
    return predictions, timings


def _detached(e: Exception) -> Exception:
    """The error without its traceback and chained cause: those frames hold the request's bytes,
    decoded pixels and arrays. awslambdaric keeps the raised exception in a reference cycle
    (``sys.exc_info()`` locals in ``handle_event_request``), so whatever it reaches waits for a full
    garbage collection. Measured on the TFLite image, 4,000 requests with every 10th bad: the handler's
    anonymous memory grew 35.3 -> 48.5 MB with the chain attached, 33.2 -> 35.7 MB detached (docs/bench.md).
    Raised from the handler's own frame, its ``stackTrace`` in the invoke response is that one frame."""
    e.__traceback__ = e.__context__ = e.__cause__ = None
    return e


def _failed(record: dict[str, Any], start: float, e: Exception) -> tuple[int, Exception]:
    """Log one failed request (with the internal detail the caller does not see); returns the status
    and the exception the caller gets: the typed BadInput itself, or a generic InternalError."""
    status = e.status if isinstance(e, BadInput) else 500
    record.update(msg="bad_input" if status < 500 else "error", errorType=type(e).__name__)
    record.update(errorMessage=str(e), status=status)
    if isinstance(e, BadInput):
        record["detail"] = e.detail
    else:
        import traceback  # an internal error's path only

        record["traceback"] = traceback.format_exc()
    record["total_ms"] = round((time.perf_counter() - start) * 1000, 3)
    _log(record)
    return status, e if isinstance(e, BadInput) else InternalError(record["request_id"])


def _start(context: Any) -> dict[str, Any]:
    """Count the invocation (only a sandbox's first is cold) and open its log record."""
    global _INVOCATIONS
    with _LOCK:
        cold = _INVOCATIONS == 0
        _INVOCATIONS += 1
    request_id = getattr(context, "aws_request_id", None)
    return {"cold": cold, "event": "unknown", "request_id": request_id, "pid": os.getpid()}


def _answer(event: Any, record: dict[str, Any], http: bool) -> Any:
    """Everything an invocation does past HTTP detection, event-format detection included."""
    events.check_shape(event)
    record["event"] = events.event_format(event)
    model = _model()
    req = events.parse_event(event, model.limits)
    with_meta = _meta_allowed(req, model.meta_access)
    predictions, timings = _classify(req, model)
    meta = _meta(model, record["cold"], timings)
    top = max(predictions, key=predictions.__getitem__)
    record.update(msg="inference", **meta, init_at=model.init_at, input=req.source, bytes=timings["bytes"])
    record.update(image_wh=timings["image_wh"], top=top)
    record.update(decode_cpu_ms=timings["decode_cpu_ms"], decode_peak_mb=timings["decode_peak_mb"])
    payload: Any = {"predictions": predictions, "meta": meta} if with_meta else predictions
    return _http(200, payload) if http else payload


def lambda_handler(event: Any, context: Any) -> Any:
    """Classify one image. Direct invokes answer ``{class: score}`` (or raise a typed BadInput, or a
    generic InternalError); HTTP events answer a proxy response with the error's status. One error
    boundary holds the whole invocation: whatever the event, the answer is one of those."""
    start = time.perf_counter()
    record = _start(context)
    http = False
    failure: Exception | None = None
    try:
        http = events.is_http_event(event)
        answer = _answer(event, record, http)
    except Exception as e:
        status, failure = _failed(record, start, e)
        if http:
            return _http(status, {"errorType": type(failure).__name__, "errorMessage": str(failure)})
    if failure is not None:  # raised outside the except block, the local dropped: no cycle through this frame
        try:
            raise _detached(failure)
        finally:
            failure = None
    record["total_ms"] = round((time.perf_counter() - start) * 1000, 3)
    _log(record)
    return answer


def _meta(model: Model, cold: bool, timings: dict[str, Any]) -> dict[str, Any]:
    """The fields the benchmark reads (bench/): keep their names."""
    return {
        "cold": cold,
        "init_ms": round(model.init_ms, 3),
        "fetch_ms": timings["fetch_ms"],
        "preprocess_ms": timings["preprocess_ms"],
        "inference_ms": timings["inference_ms"],
        "runtime": model.runtime,
        "library": model.adapter.library,
        "runtime_version": model.runtime_version,
        "threads": model.threads,
        "model_sha256": model.sha256,
        **base.init_stages(model.adapter),
        "pid": os.getpid(),
    }


def _eager_init() -> None:
    """Under a Lambda runtime, load during the init phase; a failure is logged and retried (and
    reported properly) by the first invocation instead of becoming an opaque import error."""
    global _MODEL
    if not (os.environ.get("AWS_LAMBDA_RUNTIME_API") and os.environ.get("MODEL_RUNTIME")):
        return
    try:
        _MODEL = _init("import")
    except Exception as e:
        _log({"msg": "init_failed", "errorType": type(e).__name__, "errorMessage": str(e)})


_eager_init()


def _prime() -> None:
    """SnapStart before-snapshot: one inference on a blank image, so what the runtime builds lazily on
    its first predict is in the snapshot rather than paid by every restored sandbox."""
    if _MODEL is not None:
        _MODEL.adapter.predict(np.zeros((1, *_MODEL.card.pipeline.shape), np.float32))


def _restored() -> None:
    """SnapStart after-restore: a restored sandbox is new, so its first invocation is its cold start."""
    global _INVOCATIONS
    with _LOCK:
        _INVOCATIONS = 0


snapstart.register(before_snapshot=_prime, after_restore=_restored)
