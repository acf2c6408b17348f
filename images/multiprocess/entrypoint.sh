#!/bin/sh
# P handler processes in one execution environment, as Lambda Managed Instances' Python runtime runs them
# (several processes per environment, each serving one request at a time). Not baked into any image:
# the container target (bench/measure/targets/container.py) passes this text to `/bin/sh -c` in the
# image it measures, so the image that is measured is the image that ships. Process i gets its own Runtime Interface Emulator on port 8080+i and
# its own runtime (awslambdaric) behind it, on the Runtime API port 9001+i; all share the container's
# CPU quota and memory limit. Arguments: the handler; $THROUGHPUT_PROCESSES: P.
if [ $# -ne 1 ]; then
  echo "usage: entrypoint.sh <handler>" 1>&2
  exit 142
fi
export _HANDLER="$1"
P="${THROUGHPUT_PROCESSES:-1}"
i=0
while [ "$i" -lt "$P" ]; do
  /usr/local/bin/aws-lambda-rie \
    --runtime-interface-emulator-address "0.0.0.0:$((8080 + i))" \
    --runtime-api-address "127.0.0.1:$((9001 + i))" \
    /var/runtime/bootstrap &
  i=$((i + 1))
done
wait
