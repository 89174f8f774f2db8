#!/usr/bin/env bash
# Builds the native custom-op library (src/Mx.Runtime.Native, NativeAOT) in its two instruction-set builds,
# libmxonnx.so (x86-64-v3) and libmxonnx-avx512.so (x86-64-v4), and prints the absolute path of the one this CPU
# runs as the last line. Incremental: up-to-date builds take a few seconds. NativeAOT links with the system's C
# toolchain, so that is checked first, with a message that says what to install.
# usage: build/build-ops-library.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
project="$root/src/Mx.Runtime.Native/Mx.Runtime.Native.csproj"
dir="$root/src/Mx.Runtime.Native/bin/Release/ops-library"

if ! command -v clang >/dev/null && ! command -v gcc >/dev/null; then
  echo "build-ops-library: NativeAOT needs a C toolchain to link libmxonnx.so, and neither clang nor gcc is on PATH;" \
       "install one (Debian/Ubuntu: apt-get install gcc, or apt-get install clang)" >&2
  exit 1
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for isa in x86-64-v3 x86-64-v4; do
  if ! dotnet publish "$project" -c Release --nologo -v quiet -clp:ErrorsOnly -p:MxIsa=$isa >"$log" 2>&1; then
    cat "$log" >&2
    echo "build-ops-library: building the $isa library failed (see above)" >&2
    exit 1
  fi
done
# The build whose AVX-512 code this CPU can run (the same test as Mx.Runtime.Ops.MxOpsLibrary.CpuIsX86_64V4).
name=libmxonnx-avx512.so
for flag in avx512f avx512bw avx512cd avx512dq avx512vl; do
  grep -qw "$flag" /proc/cpuinfo || name=libmxonnx.so
done
[ -f "$dir/$name" ] || { echo "build-ops-library: the build succeeded but $dir/$name is missing" >&2; exit 1; }
echo "$dir/$name"
