# Full TensorFlow (tensorflow-cpu) serving the SavedModel: the heavy reference.
# Built by images/build.py (`make build IMAGE=tf ...`) from a staged context: deps/ (pinned
# requirements resolved on the host), model/ (artefact + card.json + manifest.json), runtimes/, lambda_function.py.
# Builds unchanged on public.ecr.aws/lambda/python:<ver> and on the local stand-in (`make base`).
ARG BASE_IMAGE=public.ecr.aws/lambda/python:3.13
FROM ${BASE_IMAGE}

# 1. Dependencies: biggest, change least. ${LAMBDA_TASK_ROOT} is on sys.path on both bases (AWS docs'
#    `pip install -t ${LAMBDA_TASK_ROOT}`). Byte-compiled here, by the image's own python: /var/task is
#    read-only on Lambda, so without .pyc every cold start would compile every imported module.
#    unchecked-hash: the .pyc is used without stat-ing its source (no mtime/size comparison per import,
#    and nothing goes stale if a copy changes mtimes), as the zip + layer form does (images/package.py).
#    PRECOMPILE=0 builds the comparison image without them (docs/images.md has the measurement).
ARG PRECOMPILE=1
COPY deps/ ${LAMBDA_TASK_ROOT}/
RUN if [ "$PRECOMPILE" = 1 ]; then python3 -m compileall -q -j 0 --invalidation-mode unchecked-hash ${LAMBDA_TASK_ROOT} > /dev/null; fi

# 2. The model artefact, its card and manifest (changes per model/variant).
COPY model/ ${LAMBDA_TASK_ROOT}/model/
ARG MODEL_FILE=savedmodel
# the catalogue's variant name (images/specs.py), the EMF `variant` dimension (runtimes/emf.py)
ARG MODEL_VARIANT=float32
# the artefact's sha256 (its manifest entry, or the card's digest for the null image), given by
# images/build.py: the handler reports it without reading the manifest or hashing at INIT
ARG MODEL_SHA256=
ENV MODEL_RUNTIME=tf \
    MODEL_PATH=/var/task/model/${MODEL_FILE} \
    MODEL_VARIANT=${MODEL_VARIANT} \
    MODEL_SHA256=${MODEL_SHA256}

# 3. The shared handler and runtime adapters: smallest, change most.
COPY core/ ${LAMBDA_TASK_ROOT}/core/
COPY runtimes/ ${LAMBDA_TASK_ROOT}/runtimes/
COPY lambda_function.py ${LAMBDA_TASK_ROOT}/
RUN if [ "$PRECOMPILE" = 1 ]; then python3 -m compileall -q --invalidation-mode unchecked-hash ${LAMBDA_TASK_ROOT}/lambda_function.py ${LAMBDA_TASK_ROOT}/core ${LAMBDA_TASK_ROOT}/runtimes; fi

CMD ["lambda_function.lambda_handler"]
