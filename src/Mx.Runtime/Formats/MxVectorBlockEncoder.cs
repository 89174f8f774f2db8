using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Mx.Runtime.Formats;

/// <summary>
/// One whole block in Vector256 registers, as <see cref="MxBlockReference.Quantize"/> does it: the scale exponent
/// (floor, ceil, or the MSE choice among floor, floor + 1, floor − 1), the MX9/6/4 micro-exponents, and the element
/// codes (one per 32-bit lane). Scaling is y = x · 2^−e (· 2 for a pair with micro-exponent 1): exact whenever it
/// matters, since a product that rounds is a float32 subnormal, far below half the smallest element step, and encodes
/// as zero either way.
/// </summary>
internal readonly unsafe struct MxVectorBlockEncoder
{
    private readonly MxFormat _format;
    private readonly MxVectorGrid _grid;
    private readonly bool _shared;
    private readonly int _vectors;

    public MxVectorBlockEncoder(MxFormat format, MxRounding rounding, int blockSize)
    {
        _format = format;
        _grid = new MxVectorGrid(format, rounding);
        _shared = format.Kind == MxElementKind.SharedMicroExponent;
        _vectors = blockSize / 8;
    }

    /// <summary>Largest |x| bit pattern of the block (≥ 0x7F800000 when it holds NaN or ±Inf).</summary>
    public uint AbsMax(float* src)
    {
        var amax = Vector256<int>.Zero;
        for (int v = 0; v < _vectors; v++)
            amax = Avx2.Max(amax, Avx.LoadVector256((int*)src + 8 * v) & Vector256.Create(0x7FFFFFFF));
        var m = Sse41.Max(amax.GetLower(), amax.GetUpper());
        m = Sse41.Max(m, Sse2.Shuffle(m, 0b_01_00_11_10));
        m = Sse41.Max(m, Sse2.Shuffle(m, 0b_10_11_00_01));
        return (uint)m.ToScalar();
    }

    /// <summary>
    /// The scale exponent the reference picks for a finite block with largest magnitude bits <paramref name="amax"/>.
    /// <paramref name="codes"/> (vectors entries), <paramref name="microLanes"/> (vectors) and <paramref name="squares"/>
    /// (3 · 64 doubles) are scratch for the MSE trials.
    /// </summary>
    public int ChooseExponent(float* src, uint amax, MxScaleMode mode, float* table, Vector256<uint>* codes, Vector256<uint>* microLanes, double* squares)
    {
        int floorE = amax == 0 ? E8M0.MinExponent : Clamp(MxBlockReference.FloorLog2(amax) - _format.Emax);
        if (amax == 0 || mode == MxScaleMode.Floor) return floorE;
        if (mode == MxScaleMode.Ceil)
            return BitConverter.UInt32BitsToSingle(amax) > _format.MaxNormal * Math.ScaleB(1.0, floorE) ? Clamp(floorE + 1) : floorE;

        // MSE: the per-element squared errors are the reference's doubles (exact decoded value · 2^(e − micro), minus x,
        // squared); they are summed in element order, as the reference does, so sums, ties and the choice are identical.
        int n = 8 * _vectors;
        int* candidates = stackalloc int[3] { floorE, Clamp(floorE + 1), Clamp(floorE - 1) };
        for (int c = 0; c < 3; c++)
        {
            EncodeAt(src, candidates[c], codes, microLanes);
            SquaredErrors(src, candidates[c], codes, microLanes, table, squares + c * n);
        }
        double s0 = 0, s1 = 0, s2 = 0;
        for (int i = 0; i < n; i++)
        {
            s0 += squares[i];
            s1 += squares[n + i];
            s2 += squares[2 * n + i];
        }
        int e = floorE;
        double best = s0;
        if (s1 < best) { best = s1; e = candidates[1]; }
        if (s2 < best) e = candidates[2];
        return e;
    }

    /// <summary>
    /// Encodes the block at scale exponent <paramref name="e"/>: codes[v] holds elements 8v … 8v + 7; returns the micro
    /// bits (bit p = pair p, MX9/6/4 only, canonical: a pair of two zero codes keeps 0). <paramref name="microLanes"/>,
    /// when given, gets all-ones in the lanes whose pair was encoded with micro-exponent 1 (before the zero-pair rule).
    /// </summary>
    public ulong EncodeAt(float* src, int e, Vector256<uint>* codes, Vector256<uint>* microLanes)
    {
        var mul = Vector256.Create(MxVectorGrid.PowerOfTwo(-e));
        if (!_shared)
        {
            for (int v = 0; v < _vectors; v++) codes[v] = _grid.Encode(Avx.LoadVector256(src + 8 * v) * mul);
            return 0;
        }
        // floor(log2 pa) < e  ⟺  pa < 2^e, compared as float32 bit patterns (both finite, non-negative).
        var threshold = Vector256.Create(BitConverter.SingleToInt32Bits(MxVectorGrid.PowerOfTwo(e)));
        ulong micro = 0;
        for (int v = 0; v < _vectors; v++)
        {
            var x = Avx.LoadVector256(src + 8 * v);
            var a = x.AsInt32() & Vector256.Create(0x7FFFFFFF);
            var pairMax = Avx2.Max(a, Avx2.Shuffle(a, 0b_10_11_00_01));
            var low = Avx2.CompareGreaterThan(threshold, pairMax) & ~Avx2.CompareEqual(pairMax, Vector256<int>.Zero);
            var y = x * mul;
            y = Avx.BlendVariable(y, y + y, low.AsSingle());
            var c = _grid.Encode(y);
            var zero = Avx2.CompareEqual(c, Vector256<uint>.Zero);
            var kept = low.AsUInt32() & ~(zero & Avx2.Shuffle(zero, 0b_10_11_00_01));
            micro |= (ulong)EvenBits(Avx.MoveMask(kept.AsSingle())) << (4 * v);
            codes[v] = c;
            if (microLanes != null) microLanes[v] = low.AsUInt32();
        }
        return micro;
    }

    /// <summary>Squared error per element in double, exactly as <see cref="MxBlockReference"/> computes each term.</summary>
    private void SquaredErrors(float* src, int e, Vector256<uint>* codes, Vector256<uint>* microLanes, float* table, double* squares)
    {
        var full = Vector256.Create(Math.ScaleB(1.0, e));
        var half = Vector256.Create(Math.ScaleB(1.0, e - 1));
        for (int v = 0; v < _vectors; v++)
        {
            var q = Avx2.GatherVector256(table, codes[v].AsInt32(), 4);
            var x = Avx.LoadVector256(src + 8 * v);
            var low = _shared ? microLanes[v].AsInt32() : Vector256<int>.Zero;
            Square(q.GetLower(), x.GetLower(), low.GetLower(), full, half, squares + 8 * v);
            Square(q.GetUpper(), x.GetUpper(), low.GetUpper(), full, half, squares + 8 * v + 4);
        }
    }

    private static void Square(Vector128<float> q, Vector128<float> x, Vector128<int> low, Vector256<double> full, Vector256<double> half, double* dst)
    {
        var scale = Avx.BlendVariable(full, half, Avx2.ConvertToVector256Int64(low).AsDouble());
        var d = Avx.ConvertToVector256Double(q) * scale - Avx.ConvertToVector256Double(x);
        (d * d).Store(dst);
    }

    /// <summary>Bits 0, 2, 4, 6 of <paramref name="m"/> → bits 0–3 (one bit per pair from a per-lane mask).</summary>
    private static int EvenBits(int m)
    {
        m &= 0x55;
        m = (m | (m >> 1)) & 0x33;
        return (m | (m >> 2)) & 0x0F;
    }

    private static int Clamp(int e) => Math.Clamp(e, E8M0.MinExponent, E8M0.MaxExponent);
}
