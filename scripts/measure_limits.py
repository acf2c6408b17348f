"""Before/after figures of the handler's input limits against an older checkout; prints them. Not a test.

    .venv/bin/python -m scripts.measure_limits OLD_CODE_DIR   # a checkout of lambda_function.py + runtimes/

Each measurement runs in a fresh subprocess with the null runtime (so the figures are the handler's own
work, not the model's): the scan bomb's handling time, the malformed TIFF's HTTP answer, and the peak
resident memory (VmHWM, reset before the call) of a ~40 Mpx JPEG (6324 x 6324 gradient, ~200 KB) with
AWS_LAMBDA_FUNCTION_MEMORY_SIZE = 512 / 1024 / 1769, for the old and the current handler.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.measure.targets.inprocess import fresh_python

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import base64, json, os, sys, tempfile, time
sys.path.insert(0, sys.argv[1]); sys.path.insert(1, sys.argv[2])
d = tempfile.mkdtemp()
json.dump({"classes": list("abcdefghij"), "input_px": 128, "preprocessing": "xception-tf-nearest"},
          open(d + "/card.json", "w"))
os.environ.update(MODEL_RUNTIME="null", MODEL_PATH=d + "/m.null")
if sys.argv[4]:
    os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = sys.argv[4]
import contextlib, io
import lambda_function as lf
data = open(sys.argv[3], "rb").read()
event = {"rawPath": "/", "requestContext": {}, "headers": {"content-type": "application/octet-stream"},
         "body": base64.b64encode(data).decode(), "isBase64Encoded": True}
class C: aws_request_id = "m"
with contextlib.redirect_stdout(io.StringIO()):
    lf.lambda_handler({"image_b64": base64.b64encode(open(sys.argv[5], "rb").read()).decode()}, C())
def hwm():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
open("/proc/self/clear_refs", "w").write("5")  # reset the peak: ru_maxrss survives fork + exec
before = hwm()
t0 = time.perf_counter()
try:
    with contextlib.redirect_stdout(io.StringIO()):
        out = lf.lambda_handler(event, C())
    answer = f"{out['statusCode']} {json.loads(out['body']).get('errorType', 'predictions')}"
except Exception as e:
    answer = f"raised {type(e).__name__}"
dt = time.perf_counter() - t0
peak = hwm()
print(json.dumps({"answer": answer, "s": round(dt, 3), "peak_mb": round(peak / 1024, 1),
                  "before_mb": round(before / 1024, 1)}))
"""


def run(code: Path, image: Path, memory: str, small: Path) -> dict:
    out = fresh_python(
        ["-c", CHILD, str(code), str(REPO), str(image), memory, str(small)], Path.cwd(), timeout_s=600
    )
    if out.returncode != 0:
        return {"answer": f"exit {out.returncode}: {out.stderr[-300:]}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    import numpy as np
    from PIL import Image

    from tests.support import adversarial

    old = Path(argv[0])
    tmp = REPO / "build" / "measure"
    tmp.mkdir(parents=True, exist_ok=True)
    small = tmp / "small.jpg"
    small.write_bytes(adversarial.encode(adversarial.photo(), "JPEG"))
    files = {"scan-bomb-6324px-300": adversarial.scan_bomb(6324, 300), "tiff-float-strips":
             adversarial.tiff_bad_strip_offsets(11)}  # fmt: skip
    ramp = np.linspace(0, 255, 6324, dtype=np.float32)
    rgb = np.stack(np.broadcast_arrays(ramp[None, :], ramp[:, None], 255 - ramp[None, :]), -1)
    big = Image.fromarray(rgb.astype(np.uint8))
    files["jpeg-40mpx"] = adversarial.encode(big, "JPEG", quality=90)
    files["jpeg-progressive-40mpx"] = adversarial.encode(big, "JPEG", quality=90, progressive=True)
    files["png-40mpx"] = adversarial.encode(big, "PNG")
    for name, data in files.items():
        (tmp / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")
    for label, code in (("before", old), ("after", REPO)):
        for name in ("scan-bomb-6324px-300", "tiff-float-strips"):
            print(label, name, run(code, tmp / name, "", small))
        for name in ("jpeg-40mpx", "jpeg-progressive-40mpx", "png-40mpx"):
            for memory in ("512", "1024", "1769"):
                print(label, f"{name} @ {memory} MB", run(code, tmp / name, memory, small))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
