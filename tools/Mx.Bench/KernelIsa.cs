using Mx.Runtime.Cpu;
using Mx.Runtime.Formats;
using Mx.Runtime.Kernels;

namespace Mx.Bench;

/// <summary>The instruction-set features the MX kernels execute for a weight shape, as the custom op builds them (<see cref="MxKernelPath.Auto"/>).</summary>
public static class KernelIsa
{
    /// <summary>The union over both modes (weight-only, MX×MX) and every M in <paramref name="ms"/> of a K × N weight in <paramref name="format"/>.</summary>
    public static IsaFeatures Of(MxFormat format, int k, int n, IEnumerable<int> ms)
    {
        var layout = new MxPackedLayout(format, [n, k], 1, format.DefaultBlockSize);
        using var w = new MxPackedWeight(format, n, k, layout.BlockSize, new byte[layout.ElementBytes], new byte[layout.ScaleBytes], new byte[layout.MicroBytes]);
        IsaFeatures isa = IsaFeatures.None;
        var rows = ms.ToList();
        foreach (var mode in new[] { MxGemmMode.WeightOnly, MxGemmMode.MxMx })
        {
            var kernel = new MxMatMulKernel(w, mode);
            foreach (int m in rows) isa |= kernel.IsaFor(m);
        }
        return isa;
    }
}
