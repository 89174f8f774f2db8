using System.Reflection;
using Mx.Runtime;

namespace Mx.Bench.MiniLm;

/// <summary>
/// Real English text (<c>sentences.txt</c>, embedded: plain prose on everyday subjects, written for this project)
/// tokenized and packed into full sequences: each is [CLS], <c>length − 2</c> consecutive word pieces of the running
/// text, [SEP] — no padding, so every position is a real token (attention_mask all 1, token_type_ids all 0).
/// </summary>
public static class TextSamples
{
    /// <summary>The embedded sentences, one per line.</summary>
    public static IReadOnlyList<string> Sentences()
    {
        using var stream = typeof(TextSamples).Assembly.GetManifestResourceStream("Mx.Bench.MiniLm.sentences.txt")
            ?? throw new InvalidOperationException("the embedded sentences are missing from Mx.Bench");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    /// <summary>
    /// Sequences of <paramref name="length"/> tokens: the first <paramref name="count"/> after skipping
    /// <paramref name="skip"/> (so calibration and held-out sets do not overlap). Each sample holds
    /// <c>input_ids</c>, <c>attention_mask</c> and <c>token_type_ids</c> int64 [1, length].
    /// </summary>
    /// <exception cref="ArgumentException">The text has fewer sequences than asked for.</exception>
    public static List<IReadOnlyDictionary<string, HostTensor>> Sequences(WordPieceTokenizer tokenizer, int length, int skip, int count)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 3);
        var stream = Sentences().SelectMany(tokenizer.Encode).ToList();
        int body = length - 2, available = stream.Count / body;
        if (skip + count > available) throw new ArgumentException($"the text holds {available} sequences of {length} tokens; {skip} + {count} asked for");
        var result = new List<IReadOnlyDictionary<string, HostTensor>>();
        for (int s = skip; s < skip + count; s++)
        {
            var ids = new long[length];
            ids[0] = tokenizer.Cls;
            stream.CopyTo(s * body, ids, 1, body);
            ids[^1] = tokenizer.Sep;
            result.Add(new Dictionary<string, HostTensor>(StringComparer.Ordinal)
            {
                ["input_ids"] = Int64(ids),
                ["attention_mask"] = Int64(Enumerable.Repeat(1L, length).ToArray()),
                ["token_type_ids"] = Int64(new long[length]),
            });
        }
        return result;
    }

    /// <summary>Sequences available in the text at <paramref name="length"/> tokens.</summary>
    public static int Available(WordPieceTokenizer tokenizer, int length) => Sentences().Sum(s => tokenizer.Encode(s).Count) / (length - 2);

    private static HostTensor Int64(long[] values)
    {
        var bytes = new byte[values.Length * sizeof(long)];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        return new HostTensor(TensorElementType.Int64, [1, values.Length], bytes);
    }
}
