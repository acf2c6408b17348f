# Lambda image: runtime "tf". Dependencies come pinned from requirements/image-tf*.txt, resolved on the
# host into deps/ by images/build.py (containers here cannot reach PyPI). Biggest, least-changing layers first.
ARG BASE_IMAGE=public.ecr.aws/lambda/python:3.13
FROM ${BASE_IMAGE}
COPY deps/ /var/task/
RUN python3 -m compileall -q -j 0 /var/task > /dev/null || true
ARG MODEL=reference
ARG VARIANT=float32
ARG ARTEFACT=savedmodel
COPY model/ /var/task/model/
ENV MODEL_RUNTIME=tf \
    MODEL_PATH=/var/task/model/${ARTEFACT} \
    MODEL_CARD=/var/task/model/card.json \
    MODEL_NAME=${MODEL} \
    MODEL_VARIANT=${VARIANT}
COPY lambda_function.py /var/task/
COPY runtimes/ /var/task/runtimes/
RUN python3 -m compileall -q /var/task/lambda_function.py /var/task/runtimes > /dev/null
CMD ["lambda_function.lambda_handler"]
