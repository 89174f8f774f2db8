#!/usr/bin/env bash
# Builds everything and runs every test (Release). Prints one closing line: "N passed, N failed, N skipped".
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log=$(mktemp)
# NVRTC lets the CUDA kernel sources be compiled in tests without a GPU; when it cannot be had, those tests skip.
if [ -z "${MX_NVRTC_LIBRARY:-}" ]; then
  if nvrtc=$("$root/build/fetch-nvrtc.sh" 2>"$log.nvrtc"); then export MX_NVRTC_LIBRARY="$nvrtc"
  else echo "test.sh: NVRTC unavailable, CUDA compile tests will skip: $(tail -1 "$log.nvrtc")"; fi
  rm -f "$log.nvrtc"
fi
# The native custom-op library (NativeAOT) is published, not built by `dotnet test`; its tests load it.
ops_failed=0
if ! "$root/build/build-ops-library.sh" >/dev/null 2>"$log.ops"; then
  echo "test.sh: building the native custom-op library failed: $(tail -1 "$log.ops")"; ops_failed=1
fi
rm -f "$log.ops"
dotnet test "$root/Mx.Onnx.sln" -c Release --nologo --blame-hang-timeout 15m "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
sum() { grep -E '^(Passed|Failed)!' "$log" | grep -oE "$1: +[0-9]+" | awk '{s+=$2} END {print s+0}'; }
passed=$(sum Passed); failed=$(sum Failed); skipped=$(sum Skipped)
rm -f "$log"
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi   # a build or runner failure counts as a failure
if [ "$ops_failed" -ne 0 ]; then failed=$((failed + 1)); rc=1; fi
echo
echo "$passed passed, $failed failed, $skipped skipped"
exit "$rc"
