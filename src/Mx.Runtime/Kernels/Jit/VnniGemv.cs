using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Mx.Runtime.Cpu;

namespace Mx.Runtime.Kernels.Jit;

/// <summary>The argument block of a generated MX×MX GEMV (offsets in <see cref="VnniGemvEmitter"/>).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct VnniGemvArgs
{
    public byte* Prep;        // prepared activation rows (MxMxNibble4Avx512.Prepare layout)
    public long PrepStride;   // bytes between prepared rows
    public long M;            // rows of A
    public byte* Elements;    // weight row 0
    public byte* Scales;      // weight scale row 0
    public long N0, N1;       // weight rows [N0, N1)
    public float* Y;          // Y[0, 0]
    public long YStride;      // bytes between rows of Y
    public float* Bias;       // [N] or null
    public byte* Consts;      // VnniGemv constants, 64-byte aligned
}

/// <summary>
/// A generated AVX512_VNNI MX×MX GEMV for one weight (see <see cref="VnniGemvEmitter"/>): the code, shared by every
/// weight of the same shape, and this weight's constants (its 4-bit value table or the MXINT8 flip bytes).
/// Immutable; any number of threads may run it at once.
/// </summary>
internal sealed unsafe class VnniGemv
{
    private static readonly Dictionary<VnniGemvShape, nint> Code = [];
    private readonly byte[] _consts;   // pinned
    private readonly nint _fn;

    private VnniGemv(VnniGemvShape shape, ReadOnlySpan<byte> table)
    {
        Shape = shape;
        lock (Code)
        {
            if (!Code.TryGetValue(shape, out _fn))
                Code[shape] = _fn = ExecutableMemory.Commit(VnniGemvEmitter.Emit(shape));
        }
        _consts = GC.AllocateArray<byte>(VnniGemvEmitter.ConstBytes + 64, pinned: true);
        byte* c = Consts;
        table.CopyTo(new Span<byte>(c + VnniGemvEmitter.ConstTable, 64));
        int* fix = (int*)(c + VnniGemvEmitter.ConstFixup), tiny = (int*)(c + VnniGemvEmitter.ConstTiny), dup = (int*)(c + VnniGemvEmitter.ConstDup);
        for (int l = 0; l < 16; l++)
        {
            // vfixupimmps responses by input class: +0 → keep the destination (2^−127), +Inf → NaN, others → the input.
            fix[l] = 0x11311011;
            tiny[l] = 0x00400000;   // 2^−127, E8M0 code 0
            dup[l] = l / 2;         // block size 64: 8 block scales → 16 sub-block lanes
        }
        int* idx = (int*)(c + VnniGemvEmitter.ConstLaneIdx);
        int perLane = shape.Kind == VnniWeightKind.Nibble4 ? 4 : 8;   // int32 lanes per sub-block in one step
        for (int q = 0; q < shape.Steps; q++)
            for (int l = 0; l < 16; l++)
                idx[q * 16 + l] = q * (16 / perLane) + l / perLane;
        // 6-bit codes: qword j gets source bytes 6j..6j+5 (8 codes); code i of a qword starts at bit 6i.
        byte* spread = c + VnniGemvEmitter.ConstSpread, shift = c + VnniGemvEmitter.ConstShift;
        for (int i = 0; i < 64; i++)
        {
            spread[i] = (byte)(6 * (i / 8) + Math.Min(i % 8, 5));
            shift[i] = (byte)(6 * (i % 8));
        }
    }

    /// <summary>The shape the code is specialised for.</summary>
    public VnniGemvShape Shape { get; }

    private byte* Consts => (byte*)(((nint)Unsafe.AsPointer(ref _consts[0]) + 63) & ~(nint)63);

    /// <summary>
    /// Whether generated kernels can run here: AVX-512 with VBMI and VNNI enabled (<see cref="CpuFeatures"/>) and
    /// executable memory available.
    /// </summary>
    public static bool IsSupported =>
        CpuFeatures.Has(IsaFeatures.Avx512 | IsaFeatures.Avx512Vbmi | IsaFeatures.Avx512Vnni) && ExecutableMemory.IsAvailable;

    /// <summary>A kernel for 4-bit codes with the 64-byte offset value table <paramref name="lut"/>.</summary>
    public static VnniGemv ForNibble4(MxPackedWeight w, ReadOnlySpan<byte> lut) => new(ShapeOf(VnniWeightKind.Nibble4, w), lut);

    /// <summary>A kernel for 6-bit integer-valued codes with the 64-entry offset value table <paramref name="lut"/>.</summary>
    public static VnniGemv ForSix6(MxPackedWeight w, ReadOnlySpan<byte> lut) => new(ShapeOf(VnniWeightKind.Six6, w), lut);

    /// <summary>A kernel for MXINT8 codes.</summary>
    public static VnniGemv ForInt8(MxPackedWeight w)
    {
        Span<byte> flip = stackalloc byte[64];
        flip.Fill(0x80);
        return new(ShapeOf(VnniWeightKind.Int8, w), flip);
    }

    private static VnniGemvShape ShapeOf(VnniWeightKind kind, MxPackedWeight w) =>
        new(kind, w.BlockSize, w.RowBytes, w.BlocksPerRow, RowGroup.ChunkedK(w.PaddedK));

    /// <summary>Y rows [n0, n1) for the <c>g.M</c> prepared activation rows at <paramref name="prep"/>.</summary>
    public void Run(in GemmArgs g, byte* prep, long prepStride, int n0, int n1)
    {
        var args = new VnniGemvArgs
        {
            Prep = prep, PrepStride = prepStride, M = g.M,
            Elements = g.W.Elements, Scales = g.W.Scales, N0 = n0, N1 = n1,
            Y = g.Y, YStride = (long)g.W.Rows * sizeof(float), Bias = g.Bias, Consts = Consts,
        };
        ((delegate* unmanaged<VnniGemvArgs*, void>)_fn)(&args);
    }
}
