#!/usr/bin/env bash
# The serving checks of issue 12: models packed by `mx quantize --emit packed` run in two console apps, one on
# Microsoft.ML.OnnxRuntime alone with the native op library (ServeWithOpsLibrary), one on Mx.Runtime with
# options.RegisterMxOps() (ServeWithMxRuntime); each output must match `mx run` on the same inputs (relative L2 <= 1e-6).
# usage: samples/check-serving.sh        (from anywhere; uses ../shared/models/squeezenet1.1 too when present)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mx="$root/mx"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export MX_OPS_LIBRARY=$("$mx" ops-library | tail -1)
echo "native op library: $MX_OPS_LIBRARY"
for app in ServeWithOpsLibrary ServeWithMxRuntime; do
  dotnet build "$root/samples/$app" -c Release --nologo -v quiet -clp:ErrorsOnly -o "$tmp/$app" >/dev/null
done

cases=(
  "transformer-mxfp4|$root/testmodels/transformer_block.onnx|--format mxfp4_e2m1"
  "convnet-mxint8-act-mxint8|$root/testmodels/convnet.onnx|--format mxint8 --act-format mxint8"
  "transformer-mxfp6-act-mxfp8|$root/testmodels/transformer_block.onnx|--format mxfp6_e2m3 --act-format mxfp8_e4m3"
)
squeeze="$root/../shared/models/squeezenet1.1/model.onnx"
[ -f "$squeeze" ] && cases+=("squeezenet-mxint8-act-mxint8|$squeeze|--format mxint8 --act-format mxint8")

status=0
for c in "${cases[@]}"; do
  IFS='|' read -r name model flags <<<"$c"
  packed="$tmp/$name.mx.onnx"
  # shellcheck disable=SC2086
  "$mx" quantize "$model" -o "$packed" --emit packed $flags >/dev/null
  for app in ServeWithOpsLibrary ServeWithMxRuntime; do
    out="$tmp/$name-$app"
    dotnet "$tmp/$app/$app.dll" run "$packed" "$out/in" "$out/app" >/dev/null
    inputs=()
    for f in "$out"/in/*.npy; do inputs+=(--input "$(basename "$f" .npy)=$f"); done
    "$mx" run "$packed" "${inputs[@]}" --output-dir "$out/mx" >/dev/null
    if result=$(dotnet "$tmp/$app/$app.dll" compare "$out/app" "$out/mx"); then verdict=ok; else verdict=FAIL; status=1; fi
    echo "$name, $app: $verdict; $(echo "$result" | tr '\n' ';' | sed 's/;$//')"
  done
done
exit $status
