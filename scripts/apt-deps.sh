#!/usr/bin/env bash
# Install the Debian packages the project needs (host side), only those missing, and register arm64
# emulation. mmdebstrap: builds the local Lambda base stand-ins; docker-registry: the push target in deploy
# tests; qemu-user-static + binfmt-support + arch-test: run aarch64 binaries (mmdebstrap --arch=arm64, the
# arm64 images' RUN steps and their containers) on an x86_64 host, no buildx needed (docs/images.md).
set -euo pipefail
need=()
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v git >/dev/null || need+=(git)
command -v pigz >/dev/null || need+=(pigz)
if [ "$(uname -m)" != aarch64 ]; then
  command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
  command -v update-binfmts >/dev/null || need+=(binfmt-support)
  command -v arch-test >/dev/null || need+=(arch-test)
fi
root=$([ "$(id -u)" = 0 ] && echo 1 || echo 0)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$root" = 0 ]; then
    echo "missing Debian packages: ${need[*]} -- not root: run: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "apt: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
[ "$(uname -m)" = aarch64 ] && exit 0
# qemu 7.2 (bookworm) segfaults in LiteRT's Interpreter constructor (any -cpu model, with or without
# XNNPACK); qemu 10.0 runs it. On bookworm take qemu from bookworm-backports (trixie has 10.0 itself).
qemu_major=$(qemu-aarch64-static --version | sed -n 's/^qemu-aarch64 version \([0-9]*\).*/\1/p')
if [ "${qemu_major:-0}" -lt 8 ]; then
  . /etc/os-release
  if [ "$root" = 0 ] || [ "${VERSION_CODENAME:-}" != bookworm ]; then
    echo "qemu-aarch64 $qemu_major.x crashes LiteRT under emulation: install qemu-user-static >= 8" \
         "(on bookworm: from bookworm-backports, as root)" >&2
    exit 1
  fi
  echo "apt: qemu-user-static from bookworm-backports (qemu $qemu_major.x crashes LiteRT)"
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\n' \
    "$(sed -n 's/^URIs: *\(.*debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 \
       || true)" > /etc/apt/sources.list.d/bookworm-backports.sources
  grep -q '^URIs: .' /etc/apt/sources.list.d/bookworm-backports.sources \
    || sed -i 's|^URIs: *$|URIs: http://deb.debian.org/debian|' /etc/apt/sources.list.d/bookworm-backports.sources
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -t bookworm-backports qemu-user-static >/dev/null
  # the kernel keeps the old interpreter open (flag F): register the new one
  [ -f /proc/sys/fs/binfmt_misc/qemu-aarch64 ] && echo -1 > /proc/sys/fs/binfmt_misc/qemu-aarch64
fi
# arm64 emulation: the kernel's binfmt_misc must hold a qemu-aarch64 entry with flag F (the interpreter is
# opened at registration, so it works inside containers and chroots that do not contain qemu).
binfmt=/proc/sys/fs/binfmt_misc
if [ -f "$binfmt/qemu-aarch64" ] && grep -q '^enabled' "$binfmt/qemu-aarch64" \
   && grep -q '^flags:.*F' "$binfmt/qemu-aarch64"; then
  exit 0
fi
if [ "$root" = 0 ]; then
  echo "arm64 emulation is not registered and this is not root: run as root: bash scripts/apt-deps.sh" >&2
  echo "  (mount -t binfmt_misc binfmt_misc $binfmt; update-binfmts --enable qemu-aarch64)" >&2
  exit 1
fi
[ -f "$binfmt/register" ] || mount -t binfmt_misc binfmt_misc "$binfmt"
update-binfmts --enable qemu-aarch64 2>/dev/null || update-binfmts --import qemu-aarch64
grep -q '^flags:.*F' "$binfmt/qemu-aarch64" \
  || { echo "qemu-aarch64 binfmt entry lacks flag F: containers cannot run arm64 binaries" >&2; exit 1; }
echo "arm64 emulation: qemu-aarch64 registered ($(sed -n 's/^flags: //p' "$binfmt/qemu-aarch64"))"
