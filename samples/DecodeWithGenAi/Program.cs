using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntimeGenAI;
using Mx.TestModels.Decoder;

// DecodeWithGenAi MODEL.onnx --ops-library LIB.so [--config tinyllama|tiny] [--prefill 512] [--tokens 128] [--threads N]
//
// GenAI reads a folder: genai_config.json beside the model, and it loads a custom-op library only from inside that
// folder. So this writes a run folder in the temporary directory: links to the model and its data files, a copy of
// the library, and the config (the decoder's I/O names, greedy search, no shared KV buffer); then it times the prompt
// (AppendTokens: the prefill) and the greedy decode (GenerateNextToken), like `mx bench decode`, on the same prompt.
var options = Options.Parse(args);
var c = DecoderConfig.Parse(options.Config);
string folder = Path.Combine(Path.GetTempPath(), $"mx-genai-{Environment.ProcessId}");
Directory.CreateDirectory(folder);
try
{
    string model = Path.GetFullPath(options.Model), source = Path.GetDirectoryName(model)!;
    File.CreateSymbolicLink(Path.Combine(folder, "model.onnx"), model);
    foreach (string data in Directory.GetFiles(source, "*.onnx.data"))
        File.CreateSymbolicLink(Path.Combine(folder, Path.GetFileName(data)), data);
    File.Copy(options.OpsLibrary, Path.Combine(folder, Path.GetFileName(options.OpsLibrary)));
    File.WriteAllText(Path.Combine(folder, "genai_config.json"), Config(c, Path.GetFileName(options.OpsLibrary), options.Threads, options.Prefill + options.Tokens + 1));

    using var genai = new Model(folder);
    var prompt = c.Prompt(options.Prefill).Select(t => (int)t).ToArray();
    for (int round = 0; round < 2; round++)   // round 0 warms up
    {
        using var search = new GeneratorParams(genai);
        using var generator = new Generator(genai, search);
        var clock = Stopwatch.StartNew();
        generator.AppendTokens(prompt);
        double prefill = clock.Elapsed.TotalSeconds;
        clock.Restart();
        // Each call picks a token from the current logits and runs the model on it: one decode step, as in mx bench decode.
        int steps = 0;
        for (; steps < options.Tokens && !generator.IsDone(); steps++) generator.GenerateNextToken();
        double decode = clock.Elapsed.TotalSeconds;
        var sequence = generator.GetSequence(0).ToArray();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{(round == 0 ? "warm-up" : "timed")}: prefill {prompt.Length} tokens {prefill:F2} s ({prompt.Length / prefill:F1} tokens/s); " +
            $"decode {steps} steps {decode:F2} s ({steps / decode:F2} tokens/s); generated {string.Join(",", sequence[prompt.Length..])}"));
    }
    return 0;
}
finally
{
    Directory.Delete(folder, recursive: true);
}

// GenAI's configuration of a decoder-only model with this decoder's names (DecoderNames) and greedy search.
static string Config(DecoderConfig c, string library, int threads, int maxLength) => new JsonObject
{
    ["model"] = new JsonObject
    {
        // Token 0 stands for end-of-sequence (the prompt never holds it); min_length = max_length keeps GenAI from
        // stopping there, so the decode runs all its steps (GenAI then masks token 0, which greedy rarely picks anyway).
        ["type"] = "llama", ["bos_token_id"] = 1, ["eos_token_id"] = 0, ["pad_token_id"] = 0,
        ["context_length"] = c.MaxPositions, ["vocab_size"] = c.Vocab,
        ["decoder"] = new JsonObject
        {
            ["session_options"] = new JsonObject { ["log_id"] = "onnxruntime-genai", ["intra_op_num_threads"] = threads, ["custom_ops_library"] = library, ["provider_options"] = new JsonArray() },
            ["filename"] = "model.onnx", ["head_size"] = c.HeadDim, ["hidden_size"] = c.Hidden, ["num_attention_heads"] = c.Heads,
            ["num_hidden_layers"] = c.Layers, ["num_key_value_heads"] = c.KvHeads,
            ["inputs"] = new JsonObject
            {
                ["input_ids"] = DecoderNames.InputIds, ["attention_mask"] = DecoderNames.AttentionMask, ["position_ids"] = DecoderNames.PositionIds,
                ["past_key_names"] = "past_key_values.%d.key", ["past_value_names"] = "past_key_values.%d.value",
            },
            ["outputs"] = new JsonObject { ["logits"] = DecoderNames.Logits, ["present_key_names"] = "present.%d.key", ["present_value_names"] = "present.%d.value" },
        },
    },
    ["search"] = new JsonObject
    {
        ["do_sample"] = false, ["num_beams"] = 1, ["max_length"] = maxLength, ["min_length"] = maxLength, ["past_present_share_buffer"] = false,
    },
}.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });

internal sealed record Options(string Model, string OpsLibrary, string Config, int Prefill, int Tokens, int Threads)
{
    public static Options Parse(string[] args)
    {
        string? model = null, library = null, config = "tinyllama";
        int prefill = 512, tokens = 128, threads = Environment.ProcessorCount;
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--ops-library": library = Next(); break;
                case "--config": config = Next(); break;
                case "--prefill": prefill = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--tokens": tokens = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--threads": threads = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                default: model = args[i]; break;
            }
        }
        if (model is null || library is null)
            throw new ArgumentException("usage: DecodeWithGenAi MODEL.onnx --ops-library LIB.so [--config tinyllama|tiny] [--prefill 512] [--tokens 128] [--threads N]");
        return new Options(model, library, config, prefill, tokens, threads);
    }
}
