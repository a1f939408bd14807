#!/bin/sh
# Download a pretrained CLIP checkpoint from Hugging Face into weights/ and validate it by
# loading it. Resumes interrupted downloads.
#   tools/fetch-weights.sh [b16|b32|l14|l14-336]   (default b16 = openai/clip-vit-base-patch16)
# Environment: HF_ENDPOINT (default https://huggingface.co), WEIGHTS_DIR (default weights).
set -eu
name=${1:-b16}
case "$name" in
  b16|ViT-B/16|clip-vit-base-patch16) repo=clip-vit-base-patch16 ;;
  b32|ViT-B/32|clip-vit-base-patch32) repo=clip-vit-base-patch32 ;;
  l14|ViT-L/14|clip-vit-large-patch14) repo=clip-vit-large-patch14 ;;
  l14-336|ViT-L/14-336|clip-vit-large-patch14-336) repo=clip-vit-large-patch14-336 ;;
  -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "fetch-weights: unknown checkpoint '$name' (b16, b32, l14 or l14-336)" >&2; exit 1 ;;
esac
endpoint=${HF_ENDPOINT:-https://huggingface.co}
dir=${WEIGHTS_DIR:-weights}
mkdir -p "$dir"

fetch() { # url dest: resumable, into dest.part, renamed when complete
  url=$1; dest=$2
  if [ -s "$dest" ]; then echo "have $dest"; return 0; fi
  echo "downloading $url"
  if command -v curl >/dev/null 2>&1; then
    curl -fL --retry 3 -C - -o "$dest.part" "$url" || return 1
  elif command -v wget >/dev/null 2>&1; then
    wget -c -O "$dest.part" "$url" || return 1
  else
    echo "fetch-weights: neither curl nor wget is installed (apt-get install curl)" >&2; exit 2
  fi
  mv "$dest.part" "$dest"
}

base="$endpoint/openai/$repo/resolve/main"
if ! fetch "$base/model.safetensors" "$dir/$repo.safetensors" ||
   ! fetch "$base/vocab.json" "$dir/vocab.json" ||
   ! fetch "$base/merges.txt" "$dir/merges.txt"; then
  cat >&2 <<MSG
fetch-weights: the download failed. If this machine has no internet access, download these
files elsewhere and copy them here:
  $base/model.safetensors  ->  $dir/$repo.safetensors
  $base/vocab.json         ->  $dir/vocab.json
  $base/merges.txt         ->  $dir/merges.txt
A partial file ($dir/*.part) is resumed by running this script again.
MSG
  exit 2
fi

# validate what arrived: header, names and shapes, and the vocabulary
here=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$here/tools/ct-info" ] || make -C "$here" -s tools/ct-info
if "$here/tools/ct-info" "$dir/$repo.safetensors" --vocab "$dir/vocab.json"; then
  echo "ok: $dir/$repo.safetensors"
else
  echo "fetch-weights: $dir/$repo.safetensors does not load (truncated download? delete it and run again)" >&2
  exit 2
fi
