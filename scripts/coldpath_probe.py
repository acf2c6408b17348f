"""Which modules the handler's cold path loads: import lambda_function, answer one ``image_b64`` event.

Prints one JSON object: the python version, the modules that were not in ``sys.modules`` before the
handler was imported (``new``), and the answer's top class. Run as a file (tests/unit/test_coldpath.py, in a
fresh interpreter so nothing the test process imported hides a module) or inside an image from stdin
(``docker run -i -w /var/task --entrypoint python3 <tag> - < scripts/coldpath_probe.py``), with the image
as base64 in ``COLDPATH_IMAGE_B64`` and the handler's usual ``MODEL_RUNTIME``/``MODEL_PATH``. Only the
standard library is imported before the snapshot, so the handler's own imports are all counted.
"""

import os
import sys

before = set(sys.modules)  # os and sys are loaded by every interpreter's startup anyway
root = os.environ.get("COLDPATH_ROOT") or os.getcwd()
sys.path.insert(0, root)
event = {"image_b64": os.environ["COLDPATH_IMAGE_B64"]}

import lambda_function  # noqa: E402  (after the snapshot on purpose)

answer = lambda_function.lambda_handler(event, None)
new = sorted(set(sys.modules) - before)
import json  # noqa: E402  (after the second snapshot: the probe's own output must not hide the handler's)

top = max(answer, key=answer.__getitem__) if isinstance(answer, dict) and answer else None
print(json.dumps({"python": f"{sys.version_info[0]}.{sys.version_info[1]}", "new": new, "top": top}))
