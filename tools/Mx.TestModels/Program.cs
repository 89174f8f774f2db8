using Mx.TestModels.Decoder;

namespace Mx.TestModels;

/// <summary>
/// Entry point. <c>dotnet run --project tools/Mx.TestModels -c Release -- FOLDER</c> writes the test models into FOLDER;
/// <c>... -- decoder OUT.onnx [--config tiny|tinyllama] [--attention gqa|onnx]</c> writes a generated Llama decoder
/// (see <see cref="DecoderModelWriter"/>).
/// </summary>
public static class Program
{
    private const string Usage =
        "usage: Mx.TestModels FOLDER   (the repository's models live in testmodels/)\n" +
        "       Mx.TestModels decoder OUT.onnx [--config tiny|tinyllama] [--attention gqa|onnx]";

    /// <summary>Writes the models; returns 0 on success, 1 on error, 2 on bad usage.</summary>
    public static int Main(string[] args)
    {
        try
        {
            if (args.Length >= 1 && args[0] == "decoder") return Decoder(args[1..]);
            if (args.Length != 1 || args[0].StartsWith('-'))
            {
                Console.Error.WriteLine(Usage);
                return 2;
            }
            TestModelGenerator.Generate(args[0]);
            foreach (string f in TestModelGenerator.Files)
                Console.WriteLine($"{new FileInfo(Path.Combine(args[0], f)).Length,10}  {f}");
            return 0;
        }
        catch (Exception ex) when (ex is ArgumentException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"Mx.TestModels: {ex.Message}");
            return 1;
        }
    }

    private static int Decoder(string[] args)
    {
        string? output = null;
        var config = DecoderConfig.Tiny;
        var attention = DecoderAttention.GroupQueryAttention;
        for (int i = 0; i < args.Length; i++)
        {
            string? Value() => i + 1 < args.Length ? args[++i] : null;
            switch (args[i])
            {
                case "--config": config = DecoderConfig.Parse(Value() ?? ""); break;
                case "--attention": attention = DecoderAttentionNames.Parse(Value() ?? ""); break;
                default:
                    if (args[i].StartsWith('-') || output != null)
                    {
                        Console.Error.WriteLine(Usage);
                        return 2;
                    }
                    output = args[i];
                    break;
            }
        }
        if (output is null)
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }
        var written = DecoderModelWriter.Write(config, attention, output);
        Console.WriteLine($"{written.ModelPath}: {config.Describe()}, attention {DecoderAttentionNames.Name(attention)}, {written.WeightBytes / 1e6:F1} MB of float32 weights in {written.DataPath}");
        return 0;
    }
}
