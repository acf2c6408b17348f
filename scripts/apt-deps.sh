#!/usr/bin/env bash
# Install the Debian packages the project needs (host side), only those missing.
# mmdebstrap: builds the local Lambda base stand-in; docker-registry: the push target in deploy tests.
set -euo pipefail
need=()
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v git >/dev/null || need+=(git)
command -v pigz >/dev/null || need+=(pigz)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages: ${need[*]} -- run: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "apt: installing ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
