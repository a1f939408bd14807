#!/bin/sh
# Installs the Debian packages libcliptrase builds against, if any is missing.
set -e
need=""
for p in libopenblas-dev libutf8proc-dev libstb-dev pkg-config; do
  dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
done
[ -z "$need" ] && exit 0
echo "installing:$need"
if [ "$(id -u)" != 0 ]; then echo "missing packages:$need (run as root or install them)" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq $need
