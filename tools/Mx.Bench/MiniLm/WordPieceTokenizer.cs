using System.Globalization;
using System.Text;

namespace Mx.Bench.MiniLm;

/// <summary>
/// BERT's uncased WordPiece tokenizer, as all-MiniLM-L6-v2 uses it: lower-case, accents stripped (NFD, marks
/// dropped), split on white space and around every punctuation character, then each word split greedily into the
/// longest vocabulary pieces from its start (continuations prefixed <c>##</c>); a word with no split, or longer than
/// 100 characters, is <c>[UNK]</c>.
/// </summary>
public sealed class WordPieceTokenizer
{
    private const int MaxWordLength = 100;
    private readonly Dictionary<string, long> _ids;

    /// <summary>A tokenizer over <paramref name="vocabulary"/> (one token per line; the line number is the id).</summary>
    public WordPieceTokenizer(IEnumerable<string> vocabulary)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        _ids = new Dictionary<string, long>(StringComparer.Ordinal);
        long id = 0;
        foreach (string token in vocabulary) _ids.TryAdd(token, id++);
        Cls = Id("[CLS]");
        Sep = Id("[SEP]");
        Unknown = Id("[UNK]");
    }

    /// <summary>Reads a vocabulary file.</summary>
    public static WordPieceTokenizer FromFile(string path) => new(File.ReadLines(path, Encoding.UTF8).Select(l => l.TrimEnd('\r')));

    /// <summary>The id of [CLS].</summary>
    public long Cls { get; }

    /// <summary>The id of [SEP].</summary>
    public long Sep { get; }

    /// <summary>The id of [UNK].</summary>
    public long Unknown { get; }

    private long Id(string token) => _ids.TryGetValue(token, out long id) ? id : throw new InvalidDataException($"the vocabulary has no {token}");

    /// <summary>The word-piece ids of <paramref name="text"/> (no [CLS]/[SEP]).</summary>
    public List<long> Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<long>();
        foreach (string word in Words(text))
        {
            if (word.Length > MaxWordLength)
            {
                ids.Add(Unknown);
                continue;
            }
            var pieces = new List<long>();
            int start = 0;
            while (start < word.Length)
            {
                int end = word.Length;
                long found = -1;
                while (end > start)
                {
                    string piece = (start > 0 ? "##" : "") + word[start..end];
                    if (_ids.TryGetValue(piece, out long id))
                    {
                        found = id;
                        break;
                    }
                    end--;
                }
                if (found < 0)
                {
                    pieces = [Unknown];
                    break;
                }
                pieces.Add(found);
                start = end;
            }
            ids.AddRange(pieces);
        }
        return ids;
    }

    // Lower-cased, accent-stripped words, with every punctuation character a word of its own.
    private static IEnumerable<string> Words(string text)
    {
        // ASCII needs no decomposition (and invariant-globalization builds may not normalize other text).
        string lower = text.ToLowerInvariant();
        string normalized = lower.All(char.IsAscii) ? lower : Decompose(lower);
        var word = new StringBuilder();
        foreach (char ch in normalized)
        {
            var category = CharUnicodeInfo.GetUnicodeCategory(ch);
            if (category == UnicodeCategory.NonSpacingMark || ch == '\uFFFD' || (char.IsControl(ch) && !char.IsWhiteSpace(ch))) continue;
            if (char.IsWhiteSpace(ch) || IsPunctuation(ch))
            {
                if (word.Length > 0) yield return word.ToString();
                word.Clear();
                if (IsPunctuation(ch)) yield return ch.ToString();
                continue;
            }
            word.Append(ch);
        }
        if (word.Length > 0) yield return word.ToString();
    }

    private static string Decompose(string text)
    {
        try
        {
            return text.Normalize(NormalizationForm.FormD);
        }
        catch (PlatformNotSupportedException)
        {
            return text;
        }
    }

    // BERT counts every non-alphanumeric ASCII symbol as punctuation, and Unicode punctuation.
    private static bool IsPunctuation(char ch) =>
        (ch >= 33 && ch <= 47) || (ch >= 58 && ch <= 64) || (ch >= 91 && ch <= 96) || (ch >= 123 && ch <= 126) || char.IsPunctuation(ch);
}
