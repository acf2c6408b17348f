"""A seed-style handler: the shape of ML Zoomcamp's "Serverless Deep Learning" lesson, for the cold-start
comparison in docs/coldstart.md (bench/measure/coldstart/Dockerfile.seed builds
``coldstart-seed:<model>-float32-seed`` from it).

What makes it seed-style is what its INIT pays: tflite-runtime 2.14's Interpreter on python 3.11,
keras-image-helper's preprocessor (which imports urllib.request and its whole HTTP stack at import), numpy
and Pillow, all at module level, and the model loaded at import. It takes ``{"url": ...}`` as the lesson's
does, and also ``{"image_b64": ...}`` so that the measurement sends every image the same bytes. It answers
in the shape the measurement reads (``predictions`` + ``meta.cold``). Never part of a shipped image.
"""

import base64
import io
import os
import time

import numpy as np
from keras_image_helper import create_preprocessor
from PIL import Image
from tflite_runtime.interpreter import Interpreter

_T0 = time.perf_counter()
interpreter = Interpreter(model_path=os.environ["MODEL_PATH"])
interpreter.allocate_tensors()
_INPUT = interpreter.get_input_details()[0]
_OUTPUT = interpreter.get_output_details()[0]
_SIZE = int(_INPUT["shape"][1])
preprocessor = create_preprocessor("xception", target_size=(_SIZE, _SIZE))
_INIT_MS = (time.perf_counter() - _T0) * 1000
_CLASSES = ["dress", "hat", "longsleeve", "outwear", "pants", "shirt", "shoes", "shorts", "skirt", "t-shirt"]
_COLD = [True]


def predict(event):
    if "url" in event:
        return preprocessor.from_url(event["url"])
    with Image.open(io.BytesIO(base64.b64decode(event["image_b64"]))) as img:
        return preprocessor.convert_to_tensor(img)


def lambda_handler(event, context):
    cold, _COLD[0] = _COLD[0], False
    t0 = time.perf_counter()
    X = predict(event)
    t1 = time.perf_counter()
    interpreter.set_tensor(_INPUT["index"], X.astype(np.float32))
    interpreter.invoke()
    preds = interpreter.get_tensor(_OUTPUT["index"])[0]
    t2 = time.perf_counter()
    names = _CLASSES if len(preds) == len(_CLASSES) else [str(i) for i in range(len(preds))]
    meta = {"cold": cold, "init_ms": _INIT_MS, "preprocess_ms": (t1 - t0) * 1000}
    meta["inference_ms"] = (t2 - t1) * 1000
    return {"predictions": dict(zip(names, map(float, preds), strict=True)), "meta": meta}
