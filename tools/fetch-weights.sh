#!/bin/sh
# Download a pretrained CLIP checkpoint from Hugging Face into weights/, validate it by loading it,
# and only then move it into place: the files in weights/ are complete and load, or are absent.
# Downloads go to weights/.partial-<name>/ and are resumed by running the script again (a download
# that brought nothing leaves nothing; its message names the offline path, ct-random-weights).
# A file in place that ct-random-weights wrote (marked random) is not the checkpoint: the real
# one is downloaded over it; a download marked random is refused.
#   tools/fetch-weights.sh [b16|b32|l14|l14-336]   (default b16 = openai/clip-vit-base-patch16)
#   tools/fetch-weights.sh dino-vitb8|dino-vitb16|dino-vits8|dino-vits16|dinov2-reg-small|dinov2-reg-base
#       a proxy backbone of --head proxyclip (facebook/dino-*, facebook/dinov2-with-registers-*)
#       into weights/<name>/model.safetensors with its config.json beside it
#   tools/fetch-weights.sh OWNER/REPO              any open_clip or Hugging Face CLIP repository, into
#                                                  weights/OWNER--REPO/ with its configuration, e.g.
#     laion/CLIP-ViT-B-16-laion2B-s34B-b88K  laion/CLIP-ViT-H-14-laion2B-s32B-b79K
#     laion/CLIP-ViT-bigG-14-laion2B-39B-b160k  facebook/metaclip-b16-fullcc2.5b  apple/DFN5B-CLIP-ViT-H-14-378
# Environment: HF_ENDPOINT (default https://huggingface.co), WEIGHTS_DIR (default weights).
set -eu
name=${1:-b16}
org=openai proxy=0
case "$name" in
  dino-vitb8|dino-B/8) org=facebook repo=dino-vitb8 proxy=1 ;;
  dino-vitb16|dino-B/16) org=facebook repo=dino-vitb16 proxy=1 ;;
  dino-vits8|dino-S/8) org=facebook repo=dino-vits8 proxy=1 ;;
  dino-vits16|dino-S/16) org=facebook repo=dino-vits16 proxy=1 ;;
  dinov2-reg-small|dinov2-with-registers-small) org=facebook repo=dinov2-with-registers-small proxy=1 ;;
  dinov2-reg-base|dinov2-with-registers-base) org=facebook repo=dinov2-with-registers-base proxy=1 ;;
  b16|ViT-B/16|clip-vit-base-patch16) repo=clip-vit-base-patch16; arch=B/16 ;;
  b32|ViT-B/32|clip-vit-base-patch32) repo=clip-vit-base-patch32; arch=B/32 ;;
  l14|ViT-L/14|clip-vit-large-patch14) repo=clip-vit-large-patch14; arch=L/14 ;;
  l14-336|ViT-L/14-336|clip-vit-large-patch14-336) repo=clip-vit-large-patch14-336; arch=L/14-336 ;;
  -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  */*/*|/*|*/|*..*) echo "fetch-weights: '$name' is not OWNER/REPO" >&2; exit 1 ;;
  */*) repo= ;;
  *) echo "fetch-weights: unknown checkpoint '$name' (b16, b32, l14, l14-336, dino-vitb8, dino-vitb16, dino-vits8, dino-vits16, dinov2-reg-small, dinov2-reg-base, or a Hugging Face OWNER/REPO)" >&2; exit 1 ;;
esac
endpoint=${HF_ENDPOINT:-https://huggingface.co}
dir=${WEIGHTS_DIR:-weights}
here=$(cd "$(dirname "$0")/.." && pwd)
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

base="$endpoint/$org/$repo/resolve/main"
if [ "$proxy" = 1 ]; then
  # a proxy backbone: weights/<repo>/model.safetensors and its config.json (the heads) beside it,
  # both downloaded into the partial directory, loaded there, then moved into place together
  out=$dir/$repo
  if [ -s "$out/model.safetensors" ] && [ -s "$out/config.json" ]; then m=$out/model.safetensors; echo "have $m"
  else
    m=$part/model.safetensors
    if ! { fetch "$base/config.json" "$part/config.json" && fetch "$base/model.safetensors" "$m"; }; then
      cat >&2 <<MSG
fetch-weights: the download failed. If this machine has no internet access, download these
files elsewhere and copy them here:
  $base/model.safetensors  ->  $out/model.safetensors
  $base/config.json        ->  $out/config.json
The partial download in $part/ is resumed by running this script again.
MSG
      exit 2
    fi
  fi
  [ -x "$here/tools/ct-info" ] || make -C "$here" -s tools/ct-info
  info=$("$here/tools/ct-info" "$m") || info=
  case "$info" in
    *"backbone (vision only)"*) echo "$info" ;;
    *)
      [ "$m" = "$out/model.safetensors" ] || rm -rf "$part"
      echo "fetch-weights: $m does not load as a DINO / DINOv2 backbone (a damaged download or mirror?)" >&2
      exit 2 ;;
  esac
  if [ "$m" != "$out/model.safetensors" ]; then
    mkdir -p "$out" && mv -f "$part/config.json" "$out/config.json" && mv -f "$m" "$out/model.safetensors"
    rmdir "$part" 2>/dev/null || true
  fi
  echo "ok: $out/model.safetensors (use it as --proxy-model with --head proxyclip)"
  exit 0
fi

validate() { # model vocab: header, names, shapes, configuration beside the model, vocabulary
  [ -x "$here/tools/ct-info" ] || make -C "$here" -s tools/ct-info
  "$here/tools/ct-info" "$1" --vocab "$2"
}

if [ -z "$repo" ]; then
  # ---------------------------------------------------------------- a repository by name
  # weights/OWNER--REPO/: the weights (open_clip's open_clip_model.safetensors with
  # open_clip_config.json, else transformers' model.safetensors with config.json), the
  # vocabulary (the repository's vocab.json + merges.txt, else OpenAI's: every one of these
  # models uses OpenAI's BPE); the loader reads the configuration beside the weights
  final=$dir/$(echo "$name" | sed 's|/|--|')
  part=$dir/.partial-$(echo "$name" | sed 's|/|--|')
  base="$endpoint/$name/resolve/main"
  if [ -d "$final" ]; then
    m=$(ls "$final"/open_clip_model.safetensors "$final"/model.safetensors 2>/dev/null | head -n 1)
    echo "have $final"
    validate "$m" "$final/vocab.json" || { echo "fetch-weights: $final does not load (delete it and run again)" >&2; exit 2; }
    echo "ok: $m"; exit 0
  fi
  m=
  for f in open_clip_model.safetensors model.safetensors; do
    if [ -s "$part/$f" ] || fetch "$base/$f" "$part/$f"; then m=$part/$f; break; fi
    rm -f "$part/$f"
  done
  if [ -z "$m" ]; then
    rmdir "$part" 2>/dev/null || true
    cat >&2 <<MSG
fetch-weights: neither $base/open_clip_model.safetensors nor
$base/model.safetensors could be downloaded (no network? a repository with only PyTorch .bin
files?). Without a network, download them elsewhere into $part/, with open_clip_config.json
or config.json and vocab.json + merges.txt, and run this script again. A .bin checkpoint is a
Python pickle: convert it to safetensors first (safetensors.torch.save_file on its state dict).
MSG
    exit 2
  fi
  if is_random "$m"; then
    rm -rf "$part"
    echo "fetch-weights: the downloaded model holds random weights (made by ct-random-weights; a wrong mirror?): nothing was installed in $dir" >&2
    exit 2
  fi
  case "$m" in
    */open_clip_model.safetensors) cfg=open_clip_config.json ;;
    *) cfg=config.json ;;
  esac
  [ -s "$part/$cfg" ] || fetch "$base/$cfg" "$part/$cfg" || { rm -f "$part/$cfg"; echo "fetch-weights: no $cfg in $name: the loader falls back to OpenAI's rule" >&2; }
  if ! { [ -s "$part/vocab.json" ] && [ -s "$part/merges.txt" ]; } &&
     ! { fetch "$base/vocab.json" "$part/vocab.json" && fetch "$base/merges.txt" "$part/merges.txt"; }; then
    echo "fetch-weights: no vocabulary in $name: using OpenAI's" >&2
    fetch "$endpoint/openai/clip-vit-base-patch16/resolve/main/vocab.json" "$part/vocab.json" &&
      fetch "$endpoint/openai/clip-vit-base-patch16/resolve/main/merges.txt" "$part/merges.txt" ||
      { echo "fetch-weights: the vocabulary download failed; the partial download in $part/ is resumed by running this script again" >&2; exit 2; }
  fi
  if ! validate "$m" "$part/vocab.json"; then
    rm -rf "$part"
    echo "fetch-weights: the downloaded files do not load (see above); nothing was installed in $dir" >&2
    exit 2
  fi
  mv "$part" "$final" # one rename: the directory appears complete
  echo "ok: $final/$(basename "$m")"
  exit 0
fi

# what is not in place yet is downloaded beside it; what is in place is validated as it is
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
if ! validate "$m" "$v"; then
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
