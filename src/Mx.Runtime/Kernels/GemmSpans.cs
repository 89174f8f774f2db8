namespace Mx.Runtime.Kernels;

/// <summary>The argument checks of the span overloads of the GEMM kernels' <c>Run</c>: one set of messages for all.</summary>
internal static class GemmSpans
{
    /// <summary>Throws unless A holds [m, k], Y [m, n] and bias is empty or [n].</summary>
    public static void Validate(int m, int k, int n, int aLength, int biasLength, int yLength)
    {
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m), m, "M must be ≥ 0");
        long need = (long)m * k, needY = (long)m * n;
        if (aLength < need) throw new ArgumentException($"A has {aLength} floats; [{m}, {k}] needs {need}", "a");
        if (yLength < needY) throw new ArgumentException($"Y has {yLength} floats; [{m}, {n}] needs {needY}", "y");
        if (biasLength != 0 && biasLength != n) throw new ArgumentException($"bias has {biasLength} floats; it must be empty or hold N = {n}", "bias");
    }
}
