#!/bin/sh
# The speed anchor: ONNX Runtime's plain CLIP ViT forward on 2 threads, as
# ../shared/anchors/README.md describes, measured now (make bench calls it around our own
# measurements). Prints "ORT S=<side> min/med <a>/<b>s" per side, or how to set it up.
# usage: bench/ort_anchor.sh [SIDES] [TAG]   (default 224,448,896 and b16 = ViT-B/16; h14 = ViT-H/14)
# Setup once (network and apt needed; not done by make):  sh bench/ort_anchor.sh --setup [ARCH]
# (ARCH B/16 default: ../shared/anchors' exporter; H/14, L/14, bigG/14: bench/vit_onnx.py at 224 and
# 448, ~2.5 GB of weights for H/14)
set -u
sides=${1:-224,448,896}
tag=${2:-b16}
dir=${CT_ORT_DIR:-/tmp/ort}
anchors=${CT_ANCHORS_DIR:-../shared/anchors}
here=$(cd "$(dirname "$0")" && pwd)
if [ "$sides" = "--setup" ]; then
  set -e
  arch=${2:-B/16}
  if [ ! -d "$dir/node_modules/onnxruntime-node" ]; then
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt-get install -y nodejs npm
    [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import torch' 2>/dev/null || apt-get install -y python3-torch
    mkdir -p "$dir" && (cd "$dir" && npm install --ignore-scripts onnxruntime-node@1.30.0)
  fi
  if [ "$arch" = B/16 ]; then /usr/bin/python3 "$anchors/vit_b16_onnx.py" "$dir/models" 224,448,896
  else /usr/bin/python3 "$here/vit_onnx.py" "$dir/models" 224,448 --arch "$arch"; fi
  exit 0
fi
if [ ! -d "$dir/node_modules/onnxruntime-node" ]; then
  echo "not set up: run 'sh bench/ort_anchor.sh --setup' (installs python3-torch, node's onnxruntime-node into $dir)"
  exit 0
fi
for s in $(echo "$sides" | tr ',' ' '); do
  [ -f "$dir/models/vit_${tag}_$s.onnx" ] || { echo "missing $dir/models/vit_${tag}_$s.onnx (re-run --setup with the architecture)"; exit 0; }
done
# the project's runner (it knows every architecture's file names), onnxruntime-node from $dir
cd "$dir" && NODE_PATH="$dir/node_modules" node "$here/bench_ort.js" models "$sides" "$tag"
