using System.Runtime.Intrinsics.X86;

namespace Mx.Runtime.Cpu;

/// <summary>
/// What the CPU offers and what kernel dispatch may use: the one place every kernel, codec and quantizer asks.
/// <para>
/// <see cref="Detected"/> is what this CPU, its OS and the .NET runtime support (a feature the runtime was told to
/// ignore, e.g. with <c>DOTNET_EnableAVX512=0</c>, counts as absent). <see cref="Enabled"/> is <see cref="Detected"/>
/// minus the features named in the environment variable <c>MX_DISABLE_ISA</c> (comma-separated, case-insensitive:
/// <c>avx2</c>, <c>fma</c>, <c>avx512</c>, <c>avx512vbmi</c>, <c>avx512vnni</c>, <c>avxvnni</c>), closed under the
/// dependencies between them: every AVX-512 feature needs <c>avx512</c>; <c>avx512</c> and <c>avxvnni</c> need
/// <c>avx2</c> and <c>fma</c> (the kernels mix those instructions in). So <c>MX_DISABLE_ISA=avx2</c> leaves only the
/// scalar reference paths, and <c>MX_DISABLE_ISA=avxvnni</c> on an AMD Zen 5 runs what a Zen 4 runs.
/// </para>
/// The variable is read once, when this type is first used; unknown names are reported once on standard error and
/// otherwise ignored (a typo must not stop a server), and <see cref="ConfigurationWarning"/> keeps the message.
/// </summary>
public static class CpuFeatures
{
    /// <summary>The environment variable that masks features.</summary>
    public const string DisableVariable = "MX_DISABLE_ISA";

    private static readonly (IsaFeatures Feature, string Name)[] Names =
    [
        (IsaFeatures.Avx2, "avx2"), (IsaFeatures.Fma, "fma"), (IsaFeatures.Avx512, "avx512"),
        (IsaFeatures.Avx512Vbmi, "avx512vbmi"), (IsaFeatures.Avx512Vnni, "avx512vnni"), (IsaFeatures.AvxVnni, "avxvnni"),
    ];

    static CpuFeatures()
    {
        Detected = Detect();
        (Disabled, ConfigurationWarning) = ParseMask(Environment.GetEnvironmentVariable(DisableVariable));
        if (ConfigurationWarning != null) Console.Error.WriteLine(ConfigurationWarning);
        Enabled = Close(Detected & ~Disabled);
    }

    /// <summary>Features this CPU, OS and runtime support.</summary>
    public static IsaFeatures Detected { get; }

    /// <summary>Features named in <c>MX_DISABLE_ISA</c> (whether or not the CPU has them).</summary>
    public static IsaFeatures Disabled { get; }

    /// <summary>Features the kernels may use: <see cref="Detected"/> minus <see cref="Disabled"/>, dependencies applied.</summary>
    public static IsaFeatures Enabled { get; }

    /// <summary>Why part of <c>MX_DISABLE_ISA</c> was ignored, or null when it was read cleanly.</summary>
    public static string? ConfigurationWarning { get; }

    /// <summary>Whether every feature in <paramref name="features"/> is enabled.</summary>
    public static bool Has(IsaFeatures features) => (Enabled & features) == features;

    /// <summary>Comma-separated lower-case names in a fixed order (<c>avx2,fma,avx512,…</c>); empty for none.</summary>
    public static string Format(IsaFeatures features) =>
        string.Join(",", Names.Where(n => (features & n.Feature) != 0).Select(n => n.Name));

    /// <summary>Parses a comma-separated list of feature names (as <c>MX_DISABLE_ISA</c> takes).</summary>
    /// <exception cref="FormatException">A name is not one of the known features; the message lists them.</exception>
    public static IsaFeatures Parse(string? list)
    {
        var (mask, warning) = ParseMask(list);
        if (warning != null) throw new FormatException(warning);
        return mask;
    }

    /// <summary>
    /// Applies the dependencies: a feature whose prerequisites are absent is dropped (AVX-512 extensions need
    /// <c>avx512</c>; <c>avx512</c> and <c>avxvnni</c> need <c>avx2</c> and <c>fma</c>).
    /// </summary>
    public static IsaFeatures Close(IsaFeatures f)
    {
        const IsaFeatures Base = IsaFeatures.Avx2 | IsaFeatures.Fma;
        if ((f & Base) != Base) f &= ~(IsaFeatures.Avx512 | IsaFeatures.AvxVnni);
        if ((f & IsaFeatures.Avx512) == 0) f &= ~(IsaFeatures.Avx512Vbmi | IsaFeatures.Avx512Vnni);
        return f;
    }

    private static (IsaFeatures Mask, string? Warning) ParseMask(string? list)
    {
        if (string.IsNullOrWhiteSpace(list)) return (IsaFeatures.None, null);
        IsaFeatures mask = IsaFeatures.None;
        var unknown = new List<string>();
        foreach (string raw in list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            int i = Array.FindIndex(Names, n => string.Equals(n.Name, raw, StringComparison.OrdinalIgnoreCase));
            if (i < 0) unknown.Add(raw);
            else mask |= Names[i].Feature;
        }
        string? warning = unknown.Count == 0 ? null
            : $"{DisableVariable}: unknown feature name(s) {string.Join(", ", unknown.Select(u => $"'{u}'"))} ignored; known: {string.Join(", ", Names.Select(n => n.Name))}";
        return (mask, warning);
    }

    private static IsaFeatures Detect()
    {
        IsaFeatures f = IsaFeatures.None;
        if (Avx2.IsSupported) f |= IsaFeatures.Avx2;
        if (Fma.IsSupported) f |= IsaFeatures.Fma;
        if (Avx512F.IsSupported && Avx512BW.IsSupported && Avx512DQ.IsSupported && Avx512F.VL.IsSupported) f |= IsaFeatures.Avx512;
        if (Avx512Vbmi.IsSupported) f |= IsaFeatures.Avx512Vbmi;
        if (AvxVnni.IsSupported) f |= IsaFeatures.AvxVnni;
        // .NET 10 has no managed AVX512_VNNI class on CPUs without AVX10, so ask CPUID (leaf 7, sub-leaf 0, ECX bit 11).
        // Avx512F.IsSupported above already says that the OS saves the zmm state and that the runtime was not told
        // to leave AVX-512 alone.
        if ((f & IsaFeatures.Avx512) != 0 && X86Base.IsSupported)
        {
            (_, _, int ecx, _) = X86Base.CpuId(7, 0);
            if ((ecx & (1 << 11)) != 0) f |= IsaFeatures.Avx512Vnni;
        }
        return Close(f);
    }
}
