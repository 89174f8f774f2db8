using System.CommandLine;
using Mx.Runtime;
using Mx.Runtime.IO;
using Mx.Runtime.Ops;
using Mx.Runtime.Ort;

namespace Mx.Cli.Commands;

/// <summary>
/// <c>mx run MODEL --input NAME=FILE.npy ... --output-dir DIR [--threads N] [--device cpu|cuda]</c>: runs a model in ONNX Runtime on
/// inputs read from .npy files and writes every output to <c>DIR/&lt;output name&gt;.npy</c>.
/// </summary>
public static class RunCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "The ONNX model file" };
        var inputs = new Option<string[]>("--input", "-i")
        {
            Description = "A model input as NAME=FILE.npy; repeat for each input",
            Arity = ArgumentArity.OneOrMore,
            AllowMultipleArgumentsPerToken = false,
        };
        var outputDir = new Option<string>("--output-dir", "-o")
        {
            Description = "Folder for the outputs, one <output name>.npy each (created if missing)",
            Required = true,
        };
        var threads = new Option<int?>("--threads") { Description = "Intra-op threads (default: one per core)" };
        var device = new Option<string>("--device")
        {
            Description = "cpu, or cuda: ONNX Runtime's CUDA execution provider and the MX ops' CUDA kernels (needs the GPU build, docs/cuda.md)",
            DefaultValueFactory = _ => "cpu",
        };
        device.AcceptOnlyFromAmong("cpu", "cuda");

        var command = new Command("run", "Run a model in ONNX Runtime on .npy inputs; write each output as .npy");
        command.Arguments.Add(model);
        command.Options.Add(inputs);
        command.Options.Add(outputDir);
        command.Options.Add(threads);
        command.Options.Add(device);
        CliContext.SetAction(command, ctx => Execute(ctx, ctx.Get(model), ctx.Get(inputs) ?? [], ctx.Get(outputDir), ctx.Parse.GetValue(threads),
            ctx.Get(device) == "cuda" ? MxOpsDevice.Cuda : MxOpsDevice.Cpu));
        return command;
    }

    private static int Execute(CliContext ctx, string modelPath, string[] inputSpecs, string outputDir, int? threads, MxOpsDevice device)
    {
        var specs = ParseInputs(inputSpecs);
        using var session = CliSessions.Create(modelPath, threads, device);
        var feeds = ReadInputs(session, specs);
        IReadOnlyDictionary<string, HostTensor> outputs;
        try
        {
            outputs = session.Run(feeds);
        }
        catch (OrtException e)
        {
            throw new CliException($"running {modelPath} failed: {e.OrtMessage}", 1, e);
        }
        var clash = outputs.Keys.GroupBy(SafeFileName).FirstOrDefault(g => g.Count() > 1);
        if (clash != null)
            throw new CliException($"outputs {string.Join(", ", clash.Select(n => $"'{n}'"))} would all be written to {clash.Key}.npy");
        Directory.CreateDirectory(outputDir);
        foreach (var (name, tensor) in outputs)
        {
            string path = Path.Combine(outputDir, SafeFileName(name) + ".npy");
            NpyFile.Write(path, tensor);
            ctx.Out.WriteLine($"{name}: {tensor} -> {path}");
        }
        return 0;
    }

    /// <summary>NAME=FILE pairs, in order; a name given twice or a spec without '=' is an error.</summary>
    private static List<(string Name, string File)> ParseInputs(string[] specs)
    {
        var list = new List<(string, string)>();
        foreach (string spec in specs)
        {
            int eq = spec.IndexOf('=');
            if (eq <= 0 || eq == spec.Length - 1)
                throw new CliException($"--input '{spec}': expected NAME=FILE.npy", 2);
            string name = spec[..eq];
            if (list.Any(x => x.Item1 == name)) throw new CliException($"--input '{name}' is given twice", 2);
            list.Add((name, spec[(eq + 1)..]));
        }
        return list;
    }

    private static Dictionary<string, HostTensor> ReadInputs(HostTensorSession session, List<(string Name, string File)> specs)
    {
        string Expected() => string.Join(", ", session.Inputs);
        var feeds = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
        foreach (var (name, file) in specs)
        {
            var info = session.Inputs.FirstOrDefault(i => i.Name == name)
                ?? throw new CliException($"--input '{name}': the model has no input of that name; expected inputs: {Expected()}", 2);
            HostTensor tensor;
            try
            {
                tensor = NpyFile.Read(file);
            }
            catch (Exception e) when (e is NpyFormatException or IOException or UnauthorizedAccessException)
            {
                throw new CliException($"--input '{name}': {e.Message}", 1, e);
            }
            if (tensor.ElementType != info.ElementType)
                throw new CliException($"--input '{name}': {file} holds {tensor}, but the model expects {info}", 1);
            if (!info.Accepts(tensor.Shape))
                throw new CliException($"--input '{name}': {file} has shape [{string.Join(", ", tensor.Shape)}], but the model expects {info}", 1);
            feeds.Add(name, tensor);
        }
        var missing = session.Inputs.Where(i => !feeds.ContainsKey(i.Name)).Select(i => i.Name).ToList();
        if (missing.Count > 0)
            throw new CliException($"missing --input for {string.Join(", ", missing)}; expected inputs: {Expected()}", 2);
        return feeds;
    }

    /// <summary>An output name made safe as a file name: path separators, control and other unsafe characters become '_'.</summary>
    internal static string SafeFileName(string name)
    {
        var invalid = Path.GetInvalidFileNameChars();
        var chars = name.Select(c => invalid.Contains(c) || char.IsControl(c) || c is '/' or '\\' or ':' or '*' or '?' or '"' or '<' or '>' or '|' ? '_' : c).ToArray();
        string safe = new(chars);
        return safe.Length == 0 || safe is "." or ".." ? "_" + safe : safe;
    }
}
