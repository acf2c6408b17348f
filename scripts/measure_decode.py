"""Measure the decode budget: bytes per pixel, the hostile classes before/after, the fork's overhead.

    python -m scripts.measure_decode bpp                  -> results/decode_bpp.csv
    python -m scripts.measure_decode classes BEFORE_DIR   -> results/decode_classes.csv
    python -m scripts.measure_decode overhead BEFORE_DIR  -> results/decode_overhead.csv
    python -m scripts.measure_decode docs                 -> the tables in docs/handler.md

BEFORE_DIR is a checkout of the code to compare with (e.g. ``git worktree add /tmp/before <commit>``).
Every figure is one fresh process (``ru_maxrss`` is a high-water mark), so a measurement never inherits
another's peak; the CSVs record the machine's load beside the figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

from bench.measure.targets.inprocess import fresh_python

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
PY = sys.executable
MEMORIES = (128, 512, 1024)


def _run(code: str, cwd: Path, env: dict[str, str], timeout: float = 300) -> dict[str, Any]:
    """Run ``code`` in a fresh python in ``cwd`` (the in-process target's); it prints one JSON line last."""
    out = fresh_python(["-c", code], cwd, env, pythonpath=[cwd, ROOT], timeout_s=timeout)
    if out.returncode is None:
        return {"answer": f"no answer in {timeout} s", "wall_s": timeout}
    found = out.last_json(('{"answer"', '{"preprocess', '{"format"'))  # the handler logs JSON lines too
    if found is None:
        return {"answer": f"process died (exit {out.returncode}): {out.stderr.strip()[-200:]}"}
    return found


# --------------------------------------------------------------------------------- bytes per pixel
BPP_CASES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("JPEG", "RGB", {"quality": 90}),
    ("JPEG", "RGB", {"quality": 90, "subsampling": 0}),
    ("JPEG", "RGB", {"quality": 80, "progressive": True, "subsampling": 0}),
    ("JPEG", "RGB", {"quality": 90, "progressive": True}),
    ("JPEG", "L", {}),
    ("JPEG", "CMYK", {}),
    ("JPEG", "L", {"progressive": True}),
    ("JPEG", "CMYK", {"progressive": True}),
    ("PNG", "RGB", {}),
    ("PNG", "RGBA", {}),
    ("PNG", "L", {}),
    ("PNG", "P", {}),
    ("PNG", "I;16", {}),
    ("WEBP", "RGB", {"quality": 90}),
    ("WEBP", "RGBA", {"quality": 90}),
    ("WEBP", "RGB", {"lossless": True}),
    ("WEBP", "RGBA", {"lossless": True}),
    ("PNG", "LA", {}),
    ("GIF", "P", {"optimize": False}),
    ("GIF", "P", {}),
    ("BMP", "RGB", {}),
    ("BMP", "P", {}),
    ("TIFF", "RGB", {}),
    ("TIFF", "F", {}),
    ("TIFF", "CMYK", {}),
    ("TIFF", "I;16", {}),
)
BPP_CODE = """
import io, json, os, warnings
from PIL import Image
from runtimes import preprocess
data = open(os.environ["CASE_FILE"], "rb").read()
with open("/proc/self/statm") as f:
    rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
warnings.simplefilter("ignore")
Image.MAX_IMAGE_PIXELS = None
with Image.open(io.BytesIO(data)) as im:
    got = im.mode
    kind = "JPEG-progressive" if im.format == "JPEG" and im.info.get("progressive") else im.format
    im.load()
    preprocess.to_rgb_resized(im, (299, 299))
with open("/proc/self/status") as f:  # this process's own high-water mark (ru_maxrss keeps the parent's)
    peak = next(int(ln.split()[1]) for ln in f if ln.startswith("VmHWM:")) * 1024
print(json.dumps({"format": kind, "decoded_mode": got, "bytes": len(data), "added_bytes": peak - rss}))
"""


def _case_file(fmt: str, mode: str, kw: dict[str, Any], side: int, path: Path) -> None:
    from PIL import Image

    from tests.support import hostile

    img = hostile.textured(side, side, "L" if mode in ("I;16", "F", "LA") else mode)
    img = img.convert(mode) if mode != "I;16" else img.convert("I").convert("I;16")
    if mode in ("RGBA", "LA"):  # an alpha channel that varies, so no encoder drops it
        img.putalpha(hostile.textured(side, side, "L").transpose(Image.Transpose.ROTATE_90))
    path.write_bytes(hostile.encode(img, fmt, **kw))


def bpp(sides: tuple[int, ...] = (1000, 2000, 3000)) -> list[dict[str, Any]]:
    """Peak bytes the decode (header, pixels, RGB conversion, resize) adds per pixel, per format and mode."""
    rows = []
    path = ROOT / "build" / "measure-decode-case"
    path.parent.mkdir(exist_ok=True)
    for fmt, mode, kw in BPP_CASES:
        for side in sides:
            _case_file(fmt, mode, kw, side, path)
            got = _run(BPP_CODE, ROOT, {"CASE_FILE": str(path)})
            if "added_bytes" not in got:
                raise RuntimeError(f"{fmt} {mode} {kw} {side}: {got}")
            per_px = got["added_bytes"] / side**2
            row = {
                "format": got["format"],
                "mode": got["decoded_mode"],
                "options": json.dumps(kw),
                "side": side,
            }
            row.update(file_bytes=got.get("bytes"), added_mb=round(got.get("added_bytes", 0) / 2**20, 1))
            row["bytes_per_pixel"] = round(per_px, 2)
            rows.append(row)
            print(
                f"{fmt:5s} {row['mode']:5s} {side:5d} px {row['bytes_per_pixel']:6.2f} B/px {kw}", flush=True
            )
    return rows


def table(rows: list[dict[str, str]], fixed: int, margin: float = 1.15) -> dict[tuple[str, str], float]:
    """The bytes-per-pixel table runtimes/limits.py must cover: per (format, mode) the worst measured
    (added bytes - the fixed part) / pixels, times the margin, rounded up to 0.5; ``(format, "")`` the
    format's worst mode."""
    need: dict[tuple[str, str], float] = {}
    for r in rows:
        px = int(r["side"]) ** 2
        per_px = (float(r["bytes_per_pixel"]) * px - fixed) / px
        key = (r["format"], r["mode"])
        need[key] = max(need.get(key, 0.0), per_px)
    out = {k: math.ceil(v * margin * 2) / 2 for k, v in need.items()}
    for (fmt, _), v in list(out.items()):
        out[(fmt, "")] = max(out.get((fmt, ""), 0.0), v)
    return out


# ------------------------------------------------------------------------------ the hostile classes
#: (name, the hostile class it stands for, expression building the input from tests/support/hostile.py, env).
CLASSES: tuple[tuple[str, str, str, dict[str, str]], ...] = (
    ("jpeg-scans", "1 JPEG scans", "hostile.jpeg_scans(SIDE, 1000)", {"MAX_JPEG_SCANS": "100000"}),
    ("bmp-rle", "2 BMP RLE rows ending early", "hostile.bmp_rle(SIDE, SIDE)", {}),
    (
        "bmp-rle-enabled",
        "2 BMP RLE (BMP enabled)",
        "hostile.bmp_rle(SIDE, SIDE)",
        {"DECODE_FORMATS": "JPEG,BMP"},
    ),
    ("png-iccp", "3 PNG ICC chunks", "hostile.png_chunks(2000, 1 << 20, b'iCCP', 1000)", {}),
    ("tiff-strips", "4 TIFF one-row strips", "hostile.tiff_strips(4, 250_000)", {}),
    (
        "tiff-strips-enabled",
        "4 TIFF strips (TIFF on)",
        "hostile.tiff_strips(4, 250_000)",
        {"DECODE_FORMATS": "TIFF"},
    ),
    ("webp-at-cap", "5 WebP at the old cap", "hostile.canvas('WEBP', SIDE, SIDE)", {}),
    ("nested-event", "6 event nested 10,000 deep", "", {}),
)
CLASS_CODE = """
import base64, json, os, resource, sys, time, tempfile, pathlib
d = pathlib.Path(tempfile.mkdtemp())
(d / "card.json").write_text(json.dumps({"classes": list("abcdefghij"), "input_px": 64,
                                          "preprocessing": "xception-tf-nearest"}))
os.environ.update(MODEL_RUNTIME="null", MODEL_PATH=str(d / "model.null"))
case = os.environ["CASE_FILE"]
if case.startswith("nested:"):
    from tests.support import hostile
    event = hostile.nested(int(case.split(":")[1]))
else:
    event = {"image_b64": base64.b64encode(open(case, "rb").read()).decode()}
import lambda_function as lf
class Ctx: aws_request_id = "measure"
t0, c0 = time.perf_counter(), time.process_time()
try:
    out = lf.lambda_handler(event, Ctx())
    answer = "OK"
    if "statusCode" in out:
        answer = f"{out['statusCode']} {json.loads(out['body']).get('errorType', 'OK')}"
except BaseException as e:
    answer = f"raised {type(e).__name__}"
wall = time.perf_counter() - t0
worker = getattr(sys.modules.get("runtimes.decode"), "WORKER", None)
if worker is not None:  # reap the decode worker, so its CPU time and peak are in RUSAGE_CHILDREN
    worker.stop()
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = time.process_time() - c0 + kids.ru_utime + kids.ru_stime
with open("/proc/self/status") as f:  # this process's own high-water mark (ru_maxrss keeps the parent's)
    hwm = next(int(ln.split()[1]) for ln in f if ln.startswith("VmHWM:"))
print(json.dumps({"answer": answer, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                  "peak_mb": round(hwm / 1024, 1), "worker_peak_mb": round(kids.ru_maxrss / 1024, 1)}))
"""


def _class_case(expr: str, memory: int, path: Path) -> Path:
    """Write the input of one class at one memory size: images are SIDE x SIDE, the pixel cap before
    (40,000 pixels per MB, 1 to 40 Mpx), so the code before decodes them."""
    from tests.support import hostile

    if not expr:
        return Path("nested:10000")  # built inside the measured process: JSON cannot carry it
    side = int(min(40_000_000, max(1_000_000, memory * 40_000)) ** 0.5)
    scope = {"hostile": hostile, "SIDE": side}
    path.write_bytes(eval(expr, scope))  # noqa: S307 - the expressions are the constants in CLASSES
    return path


def classes(before: Path) -> list[dict[str, Any]]:
    rows = []
    path = ROOT / "build" / "measure-decode-class"
    path.parent.mkdir(exist_ok=True)
    for name, label, expr, env in CLASSES:
        for memory in MEMORIES:
            case = _class_case(expr, memory, path)
            for code, where in (("before", before), ("after", ROOT)):
                full = {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory), "CASE_FILE": case.as_posix(), **env}
                got = _run(CLASS_CODE, where, full, timeout=120)
                row = {"case": name, "class": label, "memory_mb": memory, "code": code, **got}
                row["env"] = " ".join(f"{k}={v}" for k, v in env.items())
                row["load_1m"] = round(os.getloadavg()[0], 2)
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


OVERHEAD_CODE = """
import base64, glob, json, os, statistics, time
import lambda_function as lf
os.sched_setaffinity(0, {1})
paths = sorted(glob.glob(os.environ["CLOTHING_DATASET"] + "/test/*/*.jpg"))
paths = paths[:: int(os.environ["STEP"])]
events = [{"image_b64": base64.b64encode(open(p, "rb").read()).decode(), "meta": True} for p in paths]
class Ctx: aws_request_id = "overhead"
for e in events[:5]:
    lf.lambda_handler(e, Ctx())
pre, tot = [], []
for _ in range(int(os.environ["ROUNDS"])):
    for e in events:
        t0 = time.perf_counter()
        m = lf.lambda_handler(e, Ctx())["meta"]
        tot.append((time.perf_counter() - t0) * 1000)
        pre.append(m["preprocess_ms"])
with open("/proc/self/statm") as f:
    rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
print(json.dumps({"preprocess_p50_ms": round(statistics.median(pre), 3),
                  "total_p50_ms": round(statistics.median(tot), 3), "n": len(tot), "rss_mb": round(rss, 1)}))
"""


def overhead(before: Path, runtimes: dict[str, str], repeats: int = 5) -> list[dict[str, Any]]:
    """Warm p50 of the whole handler on dataset photos, before and after, interleaved, one core."""
    rows = []
    for rep in range(repeats):
        for runtime, model in runtimes.items():
            for code, where in (("before", before), ("after", ROOT)):
                env = {"MODEL_RUNTIME": runtime, "MODEL_PATH": model, "STEP": "4", "ROUNDS": "3"}
                env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = "1769"
                env["MODEL_THREADS"] = "1"
                got = _run(OVERHEAD_CODE, where, env, timeout=900)
                row = {"runtime": runtime, "code": code, "repeat": rep, **got}
                row["load_1m"] = round(os.getloadavg()[0], 2)
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def _write(rows: list[dict[str, Any]], name: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(RESULTS / name, "w", newline="") as f:
        w = csv.DictWriter(f, keys)
        w.writeheader()
        w.writerows(rows)
    print(f"wrote results/{name}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=textwrap.dedent(__doc__ or ""))
    ap.add_argument("what", choices=["bpp", "classes", "overhead", "docs"])
    ap.add_argument("before", nargs="?", type=Path, help="checkout of the code to compare with")
    args = ap.parse_args(argv)
    if args.what == "bpp":
        _write(bpp(), "decode_bpp.csv")
    elif args.what == "classes":
        _write(classes(args.before), "decode_classes.csv")
    elif args.what == "overhead":
        build = ROOT / "build" / "models" / "reference"
        runtimes = {"null": str(build / "model.null"), "tflite": str(build / "float32.tflite")}
        runtimes["onnx"] = str(build / "float32.onnx")
        runtimes["tf"] = str(build / "savedmodel")
        _write(overhead(args.before, runtimes), "decode_overhead.csv")
    else:
        from scripts import decode_docs

        decode_docs.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
