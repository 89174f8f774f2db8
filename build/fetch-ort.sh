#!/usr/bin/env bash
# Obtains libonnxruntime.so.1 (CPU, linux-x64) from the npm package onnxruntime-node, verifies its sha256 and caches
# it at the given path. A second call with the file already cached and verified does nothing.
# usage: fetch-ort.sh VERSION SHA256 DEST_FILE
set -euo pipefail
version=$1 sha=$2 dest=$3
member=package/bin/napi-v6/linux/x64/libonnxruntime.so.1

check() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$sha" ]; }
check "$dest" && exit 0

dir=$(dirname "$dest")
mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9                       # parallel builds: one downloads, the others wait and then find it cached
check "$dest" && exit 0

command -v npm >/dev/null || { echo "fetch-ort: npm is needed to obtain onnxruntime-node@$version" >&2; exit 1; }
work=$(mktemp -d "$dir/.dl.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "fetch-ort: downloading onnxruntime-node@$version from the npm registry (about 113 MB, once)" >&2
( cd "$work" && npm pack --silent "onnxruntime-node@$version" >/dev/null )
tar -xzf "$work"/onnxruntime-node-"$version".tgz -C "$work" "$member"
got=$(sha256sum "$work/$member" | cut -d' ' -f1)
if [ "$got" != "$sha" ]; then
  echo "fetch-ort: sha256 mismatch for $member in onnxruntime-node@$version: expected $sha, got $got" >&2
  exit 1
fi
mv -f "$work/$member" "$dest.tmp" && mv -f "$dest.tmp" "$dest"
echo "fetch-ort: cached $dest" >&2
