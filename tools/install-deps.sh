#!/bin/sh
# Installs the Debian packages libcliptrase builds against, if any is missing, and those the
# Python package (python/) builds and tests with: Debian's python3 with numpy, pytest, and
# setuptools, wheel and pip for its offline install.
set -e
need=""
for p in libopenblas-dev libutf8proc-dev libstb-dev pkg-config \
         python3 python3-numpy python3-pytest python3-setuptools python3-wheel python3-pip; do
  dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
done
[ -z "$need" ] && exit 0
echo "installing:$need"
if [ "$(id -u)" != 0 ]; then echo "missing packages:$need (run as root or install them)" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq $need
