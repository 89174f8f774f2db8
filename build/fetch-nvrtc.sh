#!/usr/bin/env bash
# Best effort, for tests only: NVRTC (CUDA's run-time compiler; it needs no GPU) from Debian's non-free component, so
# the CUDA kernel sources can be compiled to PTX in the test suite on machines without a GPU. Nothing in the product
# needs it. The Debian archive is taken from this machine's own apt configuration; the packages are pinned by version
# and sha256. Prints the path of libnvrtc on success; exits non-zero (and the NVRTC tests skip) otherwise.
set -euo pipefail
version='11.8.89~11.8.0-5~deb12u1'
declare -A sums=(
  [libnvrtc11.2]=051b70a3d8737eae470b4158e234cf112c803f631b2c77ae60a24a1146309c22
  [libnvrtc-builtins11.8]=e446e112c304b86a35925bea6a3991a866a29736fac261adb218ec29efb49bb8
)
root=${MX_CACHE_DIR:-$HOME/.cache/mx-onnx}/nvrtc-$version
lib="$root/usr/lib/x86_64-linux-gnu/libnvrtc.so.11.2"
[ -f "$lib" ] && { echo "$lib"; exit 0; }

command -v apt-get >/dev/null && command -v dpkg >/dev/null || { echo "fetch-nvrtc: needs apt-get and dpkg" >&2; exit 1; }
conf=/etc/apt/sources.list.d/debian.sources
[ -f "$conf" ] || { echo "fetch-nvrtc: no $conf to take the Debian archive from" >&2; exit 1; }
uri=$(awk '/^URIs:/ {print $2; exit}' "$conf")
suite=$(awk '/^Suites:/ {print $2; exit}' "$conf")
keyring=$(awk '/^Signed-By:/ {print $2; exit}' "$conf")
[ -n "$uri" ] && [ -n "$suite" ] || { echo "fetch-nvrtc: cannot read the archive from $conf" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: non-free\nSigned-By: %s\n' "$uri" "$suite" "$keyring" > "$work/nf.sources"
apt_opts=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$work" -o Dir::State::Lists="$work/lists"
          -o Dir::Cache="$work/cache" -o APT::Architecture=amd64 -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
apt-get "${apt_opts[@]}" -qq update >&2
( cd "$work" && apt-get "${apt_opts[@]}" -qq download "libnvrtc11.2=$version" "libnvrtc-builtins11.8=$version" >&2 )
mkdir -p "$root.tmp"
for pkg in "${!sums[@]}"; do
  deb=$(ls "$work/${pkg}_"*.deb)
  got=$(sha256sum "$deb" | cut -d' ' -f1)
  [ "$got" = "${sums[$pkg]}" ] || { echo "fetch-nvrtc: sha256 mismatch for $deb: expected ${sums[$pkg]}, got $got" >&2; rm -rf "$root.tmp"; exit 1; }
  dpkg -x "$deb" "$root.tmp"
done
rm -rf "$root" && mv "$root.tmp" "$root"
echo "$lib"
