#!/bin/sh
# The speed anchor: ONNX Runtime's plain CLIP ViT-B/16 forward on 2 threads, as
# ../shared/anchors/README.md describes, measured now (make bench calls it twice, around our own
# measurements). Prints "ORT S=<side> min/med <a>/<b>s" per side, or how to set it up.
# usage: bench/ort_anchor.sh [SIDES]   (default 224,448,896)
# Setup once (network and apt needed; not done by make):  sh bench/ort_anchor.sh --setup
set -u
sides=${1:-224,448,896}
dir=${CT_ORT_DIR:-/tmp/ort}
anchors=${CT_ANCHORS_DIR:-../shared/anchors}
if [ "$sides" = "--setup" ]; then
  set -e
  apt-get install -y python3-torch nodejs npm
  mkdir -p "$dir" && (cd "$dir" && npm install --ignore-scripts onnxruntime-node@1.30.0)
  /usr/bin/python3 "$anchors/vit_b16_onnx.py" "$dir/models" 224,448,896
  cp "$anchors/bench_ort.js" "$dir/"
  exit 0
fi
if [ ! -d "$dir/node_modules/onnxruntime-node" ] || [ ! -f "$dir/bench_ort.js" ]; then
  echo "not set up: run 'sh bench/ort_anchor.sh --setup' (installs python3-torch, node's onnxruntime-node into $dir)"
  exit 0
fi
for s in $(echo "$sides" | tr ',' ' '); do
  [ -f "$dir/models/vit_b16_$s.onnx" ] || { echo "missing $dir/models/vit_b16_$s.onnx (re-run --setup)"; exit 0; }
done
cd "$dir" && node bench_ort.js models "$sides"
