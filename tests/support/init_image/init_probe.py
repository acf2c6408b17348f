"""Handler of the INIT check's test image (tests/integration/test_init_report.py).

Its import sleeps ``INIT_SLEEP_MS`` and imports ``INIT_IMPORTS`` (comma-separated module names), then logs
one JSON line: how long the whole module import took (monotonic clock) and when it started and ended (wall
clock, epoch seconds), so the emulator's INIT window can be compared with what it is meant to contain.
"""

import json
import os
import time

_START_WALL = time.time()
_START = time.perf_counter()
time.sleep(float(os.environ.get("INIT_SLEEP_MS", "0")) / 1000)
for _name in filter(None, os.environ.get("INIT_IMPORTS", "").split(",")):
    __import__(_name)
_RECORD = {
    "msg": "init_probe",
    "import_ms": (time.perf_counter() - _START) * 1000,
    "start_wall": _START_WALL,
    "end_wall": time.time(),
}
print(json.dumps(_RECORD), flush=True)


def handler(event, context):
    return _RECORD
