"""The floor a handler's INIT is compared with: a bare Lambda handler in the same image.

``FLOOR=boot``: nothing imported (python + awslambdaric). ``FLOOR=null``: numpy and Pillow's Image (what
the null image needs to answer ``image_b64``). ``FLOOR=tflite`` / ``onnx``: those plus the runtime
library, and the model at MODEL_PATH loaded the plain way (no build-time copy, no options). Copied into
``coldstart-floor-*`` images by bench/measure/coldstart/Dockerfile.floor; never part of a shipped image.
It answers in the shape the measurement reads (``predictions`` + ``meta.cold``) without any inference.
"""

import os

FLOOR = os.environ.get("FLOOR", "boot")
if FLOOR != "boot":
    import numpy  # noqa: F401
    from PIL import Image  # noqa: F401
if FLOOR == "tflite":
    from ai_edge_litert.interpreter import Interpreter

    _interp = Interpreter(model_path=os.environ["MODEL_PATH"], num_threads=1)
    _interp.allocate_tensors()
elif FLOOR == "onnx":
    import onnxruntime

    _so = onnxruntime.SessionOptions()
    _so.intra_op_num_threads = 1
    _sess = onnxruntime.InferenceSession(os.environ["MODEL_PATH"], _so, providers=["CPUExecutionProvider"])

_COLD = [True]


def handler(event, context):
    cold, _COLD[0] = _COLD[0], False
    return {"predictions": {"floor": 0.0}, "meta": {"cold": cold, "init_ms": 0.0, "inference_ms": 0.0}}
