using Mx.Runtime.Formats;

namespace Mx.Runtime.Kernels;

/// <summary>
/// Per-format lookup tables the kernels read through raw pointers (pinned arrays, built once from
/// <see cref="MxElementDecoding"/>, never modified): code → float, and, for formats whose values times a power of two
/// are all small integers (MXFP4 ×2, MXINT4 ×4, MXFP6 E2M3 ×8, MXINT8 ×64), code → int8. The integer form is what lets
/// a kernel decode with byte shuffles and multiply with integer instructions.
/// </summary>
internal sealed unsafe class FormatTables
{
    private static readonly FormatTables[] ById = MxFormats.All.OrderBy(f => f.Id).Select(f => new FormatTables(f)).ToArray();
    private static readonly float[] E8M0Values = BuildE8M0();

    private readonly float[] _floats;
    private readonly sbyte[]? _ints;

    private FormatTables(MxFormat format)
    {
        Format = format;
        float[] t = MxElementDecoding.Table(format);
        _floats = GC.AllocateArray<float>(t.Length, pinned: true);
        t.CopyTo(_floats, 0);
        IntShift = FindIntShift(t);
        if (IntShift >= 0)
        {
            _ints = GC.AllocateArray<sbyte>(t.Length, pinned: true);
            for (int c = 0; c < t.Length; c++) _ints[c] = (sbyte)Math.ScaleB(t[c], IntShift);
        }
    }

    public static FormatTables For(MxFormat format) => ById[format.Id - 1];

    public MxFormat Format { get; }

    /// <summary>Code → element value (scale not applied).</summary>
    public float* Floats => (float*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref _floats[0]);

    /// <summary>s such that every value · 2^s is an integer in [−128, 127]; −1 when none (FP8, E3M2, micro-exponent formats).</summary>
    public int IntShift { get; }

    /// <summary>Code → value · 2^<see cref="IntShift"/>; null when <see cref="IntShift"/> is −1.</summary>
    public sbyte* Ints => _ints is null ? null : (sbyte*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref _ints[0]);

    /// <summary>E8M0 byte → 2^(b − 127) as float (2^−127 is a float subnormal and exact; 0xFF → NaN).</summary>
    public static float* E8M0 => (float*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref E8M0Values[0]);

    /// <summary>E8M0 byte → 2^(b − 127) exactly, as double (0xFF → NaN).</summary>
    public static double E8M0Double(byte b) => b == 0xFF ? double.NaN : Math.ScaleB(1.0, b - 127);

    private static float[] BuildE8M0()
    {
        var t = GC.AllocateArray<float>(256, pinned: true);
        for (int b = 0; b < 256; b++) t[b] = (float)E8M0Double((byte)b);
        return t;
    }

    private static int FindIntShift(float[] table)
    {
        if (table.Any(v => !float.IsFinite(v))) return -1;
        for (int s = 0; s <= 7; s++)
        {
            bool ok = table.All(v =>
            {
                double x = Math.ScaleB(v, s);
                return x == Math.Floor(x) && x >= -128 && x <= 127;
            });
            if (ok) return s;
        }
        return -1;
    }
}
