#!/usr/bin/env bash
# Builds everything and runs every test (Release), then the kernel tests again under each CPU-feature profile.
# Prints one closing line over all runs: "N passed, N failed, N skipped".
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log=$(mktemp)
# NVRTC lets the CUDA kernel sources be compiled in tests without a GPU; when it cannot be had, those tests skip.
if [ -z "${MX_NVRTC_LIBRARY:-}" ]; then
  if nvrtc=$("$root/build/fetch-nvrtc.sh" 2>"$log.nvrtc"); then export MX_NVRTC_LIBRARY="$nvrtc"
  else echo "test.sh: NVRTC unavailable, CUDA compile tests will skip: $(tail -1 "$log.nvrtc")"; fi
  rm -f "$log.nvrtc"
fi
# The HTML report test renders in headless Chromium: install Debian's package when it is missing and apt can get it.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test.sh: installing chromium (apt-get) for the report rendering test"
    if ! (export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq chromium) >"$log.apt" 2>&1; then
      export MX_CHROMIUM_UNAVAILABLE="apt-get install chromium failed: $(grep -v '^\s*$' "$log.apt" | tail -1)"
      echo "test.sh: $MX_CHROMIUM_UNAVAILABLE; the report rendering test will skip"
    fi
    rm -f "$log.apt"
  else
    export MX_CHROMIUM_UNAVAILABLE="apt-get needs root (or is absent) on this machine"
    echo "test.sh: chromium missing and $MX_CHROMIUM_UNAVAILABLE; the report rendering test will skip"
  fi
fi
# The native custom-op library (NativeAOT) is published, not built by `dotnet test`; its tests load it.
ops_failed=0
if ! "$root/build/build-ops-library.sh" >/dev/null 2>"$log.ops"; then
  echo "test.sh: building the native custom-op library failed: $(tail -1 "$log.ops")"; ops_failed=1
fi
rm -f "$log.ops"

dotnet test "$root/Mx.Onnx.sln" -c Release --nologo --blame-hang-timeout 15m "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

# Kernel profiles: the kernel, format and op fixtures again with CPU features masked (MX_DISABLE_ISA), so every
# dispatch path is tested on whichever machine runs this, not only the one it happens to dispatch to.
mx="$root/tools/Mx.Cli/bin/Release/net10.0/mx.dll"
filter="FullyQualifiedName~Mx.Runtime.Tests.Kernels|FullyQualifiedName~Mx.Runtime.Tests.Formats|FullyQualifiedName~Mx.Runtime.Tests.Ops"
enabled() { MX_DISABLE_ISA="$1" dotnet "$mx" info --json 2>/dev/null | sed -n 's/.*"isa_enabled": "\([^"]*\)".*/\1/p'; }
if [ -f "$mx" ]; then
  native=$(enabled "")
  echo
  echo "== CPU: $(dotnet "$mx" info | sed -n 's/^cpu: *//p'); features enabled natively: $native"
  while IFS='|' read -r name mask what; do
    features=$(enabled "$mask")
    same=""; [ "$features" = "$native" ] && same=" (the same as the full run on this CPU)"
    echo
    echo "== kernel profile $name: $what; MX_DISABLE_ISA=$mask -> ${features:-no SIMD}$same"
    MX_DISABLE_ISA="$mask" dotnet test "$root/tests/Mx.Runtime.Tests/Mx.Runtime.Tests.csproj" -c Release --no-build --nologo \
      --filter "$filter" 2>&1 | tee -a "$log" | grep -E '^(Passed|Failed)!|^\s+Failed ' | sed "s/^/[$name] /"
    [ "${PIPESTATUS[0]}" -ne 0 ] && rc=1
  done <<'PROFILES'
zen4|avxvnni|AMD Zen 4 (AVX-512 with AVX512-VNNI, no AVX-VNNI)
avx512-novnni|avx512vnni,avxvnni|AVX-512 without VNNI (the managed AVX-512 kernels, no generated code)
avx2|avx512,avx512vbmi,avx512vnni,avxvnni|AVX2 + FMA only
scalar|avx2,fma,avx512,avx512vbmi,avx512vnni,avxvnni|no SIMD kernels (the scalar reference paths)
PROFILES
fi

sum() { grep -E '^(Passed|Failed)!' "$log" | grep -oE "$1: +[0-9]+" | awk '{s+=$2} END {print s+0}'; }
passed=$(sum Passed); failed=$(sum Failed); skipped=$(sum Skipped)
rm -f "$log"
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi   # a build or runner failure counts as a failure
if [ "$ops_failed" -ne 0 ]; then failed=$((failed + 1)); rc=1; fi
echo
echo "$passed passed, $failed failed, $skipped skipped"
exit "$rc"
