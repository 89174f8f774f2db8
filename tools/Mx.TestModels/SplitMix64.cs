namespace Mx.TestModels;

/// <summary>
/// SplitMix64, a tiny seeded generator with a fixed published algorithm. Used instead of <see cref="Random"/> so the
/// generated models are byte-for-byte the same on every .NET version and platform. Floats come from integer bits
/// only (no transcendental functions, whose last bit may differ between platforms).
/// </summary>
public sealed class SplitMix64(ulong seed)
{
    private ulong _state = seed;

    private const ulong Golden = 0x9E3779B97F4A7C15UL;

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64() => Mix(_state += Golden);

    /// <summary>
    /// The bits a generator seeded with <paramref name="seed"/> returns on its call number <paramref name="index"/>
    /// (0-based), without making the calls before: large tensors are generated in parallel chunks this way, and the
    /// values do not depend on how they were split.
    /// </summary>
    public static ulong At(ulong seed, ulong index) => Mix(seed + (index + 1) * Golden);

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [-scale, scale): 24 random bits, exact in float32, times the scale.</summary>
    public float NextSymmetric(float scale) => ((NextUInt64() >> 40) * (1f / (1 << 23)) - 1f) * scale;

    /// <summary><paramref name="count"/> values uniform in [-scale, scale).</summary>
    public float[] Symmetric(int count, float scale)
    {
        var v = new float[count];
        for (int i = 0; i < count; i++) v[i] = NextSymmetric(scale);
        return v;
    }
}
