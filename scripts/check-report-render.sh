#!/usr/bin/env bash
# Renders an MX quantization report in headless Chromium and keeps the screenshot for a person to look at.
#   scripts/check-report-render.sh [ORIGINAL.onnx QUANTIZED.onnx [--data DIR]]  [-> OUT_DIR, default ./report-render]
# Without models it runs the HtmlRenderTests test, which renders a generated report.
# Installs Debian's chromium with apt-get when /usr/bin/chromium is missing (needs root).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${OUT_DIR:-$PWD/report-render}"
mkdir -p "$out"

if [[ ! -x /usr/bin/chromium ]]; then
  echo "installing chromium (apt-get)..." >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

if [[ $# -ge 2 ]]; then
  dotnet build "$repo/tools/Mx.Cli" -c Release -v q -nologo >/dev/null
  dotnet "$repo/tools/Mx.Cli/bin/Release/net10.0/mx.dll" report "$@" -o "$out/report.html"
  profile="$(mktemp -d)"
  trap 'rm -rf "$profile"' EXIT
  /usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars \
    --user-data-dir="$profile" --screenshot="$out/report.png" --window-size=1280,2000 "file://$out/report.html" 2>/dev/null
else
  MX_REPORT_SCREENSHOT="$out/report.png" dotnet test "$repo/tests/Mx.Onnx.Tests" -c Release -nologo \
    --filter "FullyQualifiedName~HtmlRenderTests"
fi
[[ -s "$out/report.png" ]] || { echo "no screenshot written" >&2; exit 1; }
echo "screenshot: $out/report.png"
