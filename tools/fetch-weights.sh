#!/bin/sh
# Download a pretrained CLIP checkpoint from Hugging Face into weights/, validate it by loading it,
# and only then move it into place: the files in weights/ are complete and load, or are absent.
# Downloads go to weights/.partial-<name>/ and are resumed by running the script again (a download
# that brought nothing leaves nothing; its message names the offline path, ct-random-weights).
# A file in place that ct-random-weights wrote (marked random) is not the checkpoint: the real
# one is downloaded over it; a download marked random is refused.
#   tools/fetch-weights.sh [b16|b32|l14|l14-336]   (default b16 = openai/clip-vit-base-patch16)
# Environment: HF_ENDPOINT (default https://huggingface.co), WEIGHTS_DIR (default weights).
set -eu
name=${1:-b16}
case "$name" in
  b16|ViT-B/16|clip-vit-base-patch16) repo=clip-vit-base-patch16; arch=B/16 ;;
  b32|ViT-B/32|clip-vit-base-patch32) repo=clip-vit-base-patch32; arch=B/32 ;;
  l14|ViT-L/14|clip-vit-large-patch14) repo=clip-vit-large-patch14; arch=L/14 ;;
  l14-336|ViT-L/14-336|clip-vit-large-patch14-336) repo=clip-vit-large-patch14-336; arch=L/14-336 ;;
  -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "fetch-weights: unknown checkpoint '$name' (b16, b32, l14 or l14-336)" >&2; exit 1 ;;
esac
endpoint=${HF_ENDPOINT:-https://huggingface.co}
dir=${WEIGHTS_DIR:-weights}
model=$dir/$repo.safetensors
part=$dir/.partial-$repo # same file system as $dir: moving out of it is a rename
mkdir -p "$dir"

fetch() { # url dest: resumable download into dest
  url=$1; dest=$2
  echo "downloading $url"
  mkdir -p "$part"
  if command -v curl >/dev/null 2>&1; then
    curl -fL --retry 3 -C - -o "$dest" "$url" || return 1
  elif command -v wget >/dev/null 2>&1; then
    wget -c -O "$dest" "$url" || return 1
  else
    echo "fetch-weights: neither curl nor wget is installed (apt-get install curl)" >&2; exit 2
  fi
}

# a file ct-random-weights wrote: marked in its safetensors header (the header's first bytes)
is_random() { head -c 4096 "$1" 2>/dev/null | tr -d '\000' | grep -q '"cliptrase.random_weights":"1"'; }

# what is not in place yet is downloaded beside it; what is in place is validated as it is
base="$endpoint/openai/$repo/resolve/main"
m=$model; v=$dir/vocab.json
if [ -s "$model" ] && is_random "$model"; then
  echo "fetch-weights: $model holds random weights (made by ct-random-weights), not the checkpoint: downloading the real one over it"
  m=$part/model.safetensors
elif [ -s "$model" ]; then echo "have $model"; else m=$part/model.safetensors; fi
if [ -s "$dir/vocab.json" ] && [ -s "$dir/merges.txt" ]; then echo "have $dir/vocab.json, $dir/merges.txt"
else v=$part/vocab.json; fi
if { [ "$m" = "$model" ] || fetch "$base/model.safetensors" "$m"; } &&
   { [ "$v" = "$dir/vocab.json" ] || { fetch "$base/vocab.json" "$v" && fetch "$base/merges.txt" "$part/merges.txt"; }; }; then :
else
  # nothing arrived: no empty files or folder left behind (what did arrive is kept to resume)
  if [ -d "$part" ]; then find "$part" -type f -size 0 -exec rm -f {} + 2>/dev/null || true; rmdir "$part" 2>/dev/null || true; fi
  cat >&2 <<MSG
fetch-weights: the download failed. If this machine has no internet access, download these
files elsewhere and copy them here:
  $base/model.safetensors  ->  $model
  $base/vocab.json         ->  $dir/vocab.json
  $base/merges.txt         ->  $dir/merges.txt
Offline, to try everything at the real cost with meaningless labels, write random weights of the
real shapes instead (the vocabulary must still come from the files above, or ../shared/oracle):
  tools/ct-random-weights --arch $arch -o $dir/random-$repo.safetensors
and pass it with -m (README.md, "Data directory").
MSG
  [ -d "$part" ] && echo "The partial download in $part/ is resumed by running this script again." >&2
  if [ -s "$model" ] && is_random "$model"; then
    echo "fetch-weights: $model still holds random weights: the labels made with it mean nothing" >&2
  fi
  exit 2
fi
if [ "$m" != "$model" ] && is_random "$m"; then
  rm -rf "$part"
  echo "fetch-weights: the downloaded model holds random weights (made by ct-random-weights; a wrong mirror?): nothing was installed in $dir" >&2
  exit 2
fi

# validate before anything is moved into place: header, names and shapes, and the vocabulary
here=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$here/tools/ct-info" ] || make -C "$here" -s tools/ct-info
if ! "$here/tools/ct-info" "$m" --vocab "$v"; then
  if [ "$m" != "$model" ] || [ "$v" != "$dir/vocab.json" ]; then
    rm -rf "$part" # complete but unusable: not worth resuming
    echo "fetch-weights: the downloaded files do not load (a damaged download or mirror?); nothing was installed in $dir" >&2
  else
    echo "fetch-weights: $model does not load (truncated download? delete it and run again)" >&2
  fi
  exit 2
fi
[ "$m" = "$model" ] || mv -f "$m" "$model"
[ "$v" = "$dir/vocab.json" ] || { mv -f "$part/merges.txt" "$dir/merges.txt" && mv -f "$v" "$dir/vocab.json"; }
rmdir "$part" 2>/dev/null || true
echo "ok: $model"
