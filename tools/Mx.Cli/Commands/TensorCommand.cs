using System.CommandLine;
using System.Text.Json;
using Mx.Runtime;
using Mx.Runtime.Formats;
using Mx.Runtime.IO;

namespace Mx.Cli.Commands;

/// <summary>
/// <c>mx tensor FILE.npy --format F ...</c>: quantizes one saved tensor to an MX format and reports what it costs
/// (bits per element, scales included) and what it loses (MSE, SQNR, max error); optionally writes the dequantized tensor.
/// </summary>
public static class TensorCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "A .npy tensor (float32, float16 or float64)" };
        var format = new Option<string>("--format", "-f") { Description = $"MX format: {string.Join(", ", MxFormats.All.Select(f => f.Name))}", Required = true };
        var blockSize = new Option<int?>("--block-size") { Description = "Elements per shared scale (default: the format's, 32 or 16)" };
        var axis = new Option<int>("--axis") { Description = "Block axis (negative counts from the end)", DefaultValueFactory = _ => -1 };
        var scale = new Option<string>("--scale") { Description = "Scale choice per block", DefaultValueFactory = _ => "floor" };
        scale.AcceptOnlyFromAmong("floor", "ceil", "mse");
        var rounding = new Option<string>("--rounding") { Description = "Element rounding: even (half to even) or away (ties away from zero)", DefaultValueFactory = _ => "even" };
        rounding.AcceptOnlyFromAmong("even", "away");
        var dequantized = new Option<string?>("--dequantized") { Description = "Write the dequantized float32 tensor to this .npy file" };
        var json = new Option<bool>("--json") { Description = "Write the result as JSON" };
        var command = new Command("tensor", "Quantize one tensor to an MX format and report bits per element and error.")
        {
            file, format, blockSize, axis, scale, rounding, dequantized, json,
        };
        CliContext.SetAction(command, ctx =>
        {
            string path = ctx.Get(file);
            MxFormat fmt = MxFormats.TryParse(ctx.Get(format), out var f)
                ? f
                : throw new CliException($"unknown format '{ctx.Get(format)}'; known: {string.Join(", ", MxFormats.All.Select(x => x.Name))}", 2);
            HostTensor tensor = NpyFile.Read(path);
            if (tensor.ElementType is not (TensorElementType.Float or TensorElementType.Float16 or TensorElementType.Double))
                throw new CliException($"{path}: element type {tensor.ElementType.OnnxName()}; mx tensor quantizes float32, float16 or float64 tensors");
            if (tensor.Shape.Length == 0)
                throw new CliException($"{path}: a scalar has no axis to block along");
            int[] shape = tensor.Shape.Select(d => checked((int)d)).ToArray();
            int ax = ctx.Get(axis);
            if (ax < -shape.Length || ax >= shape.Length)
                throw new CliException($"--axis {ax} is out of range for a tensor of rank {shape.Length} (shape [{string.Join(", ", shape)}])", 2);
            var options = new MxQuantizeOptions(fmt)
            {
                BlockSize = ctx.Get(blockSize) ?? fmt.DefaultBlockSize,
                Axis = ax,
                ScaleMode = ctx.Get(scale) switch { "ceil" => MxScaleMode.Ceil, "mse" => MxScaleMode.Mse, _ => MxScaleMode.Floor },
                Rounding = ctx.Get(rounding) == "away" ? MxRounding.NearestAway : MxRounding.NearestEven,
            };
            float[] values = tensor.ToFloatArray();
            MxTensorReport report;
            try
            {
                report = MxTensorReport.Create(values, shape, options);
            }
            catch (ArgumentException ex)
            {
                throw new CliException($"{path}: {ex.Message}", 2);
            }
            string? outPath = ctx.Get(dequantized);
            if (outPath != null)
                NpyFile.Write(outPath, HostTensor.FromFloats(report.Dequantized, tensor.Shape));
            WriteResult(ctx, ctx.Get(json), path, tensor, report, values, outPath);
            return 0;
        });
        return command;
    }

    private static void WriteResult(CliContext ctx, bool asJson, string path, HostTensor tensor, MxTensorReport report, float[] values, string? outPath)
    {
        var layout = report.Packed.Layout;
        long packedBytes = report.Packed.Elements.Length + report.Packed.Scales.Length + report.Packed.Micro.Length;
        var blocks = report.PerBlock(values);
        double worstBlockSqnr = blocks.Where(b => b.Count > 0).Select(b => b.SqnrDb).DefaultIfEmpty(double.PositiveInfinity).Min();
        if (asJson)
        {
            var o = new Dictionary<string, object?>
            {
                ["file"] = path,
                ["shape"] = tensor.Shape,
                ["format"] = report.Options.Format.Name,
                ["block_size"] = report.Options.BlockSize,
                ["axis"] = report.Options.Axis,
                ["scale"] = report.Options.ScaleMode.ToString().ToLowerInvariant(),
                ["rounding"] = report.Options.Rounding == MxRounding.NearestAway ? "away" : "even",
                ["elements"] = tensor.ElementCount,
                ["blocks"] = blocks.Length,
                ["bits_per_element"] = report.BitsPerElement,
                ["packed_bytes"] = packedBytes,
                ["float32_bytes"] = tensor.ElementCount * 4,
                ["mse"] = Finite(report.Mse),
                ["sqnr_db"] = Finite(report.SqnrDb),
                ["max_abs_error"] = Finite(report.MaxAbsError),
                ["worst_block_sqnr_db"] = Finite(worstBlockSqnr),
                ["dequantized"] = outPath,
            };
            ctx.Out.WriteLine(JsonSerializer.Serialize(o, new JsonSerializerOptions { WriteIndented = true }));
            return;
        }
        ctx.Out.WriteLine($"{path}: float [{string.Join(", ", tensor.Shape)}] → {report.Options.Format.Name}, block {report.Options.BlockSize} along axis {report.Options.Axis}, scale {report.Options.ScaleMode.ToString().ToLowerInvariant()}, rounding {(report.Options.Rounding == MxRounding.NearestAway ? "away" : "even")}");
        ctx.Out.WriteLine($"  elements          {tensor.ElementCount:N0} in {blocks.Length:N0} blocks ({layout.Rows:N0} rows of {layout.K})");
        ctx.Out.WriteLine($"  bits per element  {report.BitsPerElement:F3} (scales included)");
        ctx.Out.WriteLine($"  packed bytes      {packedBytes:N0} (float32: {tensor.ElementCount * 4:N0}, {tensor.ElementCount * 4.0 / Math.Max(1, packedBytes):F2}x smaller)");
        ctx.Out.WriteLine($"  MSE               {report.Mse:G6}");
        ctx.Out.WriteLine($"  SQNR              {report.SqnrDb:F2} dB (worst block {worstBlockSqnr:F2} dB)");
        ctx.Out.WriteLine($"  max abs error     {report.MaxAbsError:G6}");
        if (outPath != null) ctx.Out.WriteLine($"  dequantized       {outPath}");
    }

    // JSON has no NaN/Infinity: an exact reconstruction has infinite SQNR; report it as null.
    private static double? Finite(double v) => double.IsFinite(v) ? v : null;
}
