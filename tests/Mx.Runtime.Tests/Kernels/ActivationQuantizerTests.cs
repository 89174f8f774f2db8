using Mx.Runtime.Kernels;

namespace Mx.Runtime.Tests.Kernels;

public class ActivationQuantizerTests
{
    /// <summary>
    /// For any row: padding codes are 0; a block with NaN/Inf gets scale 0xFF; an all-zero block scale 0; otherwise the
    /// scale is floor(log2 amax) (OCP floor rule, MXINT8 emax 0) and every code is the round-half-even of v·2^(6−e)
    /// saturated to ±127.
    /// </summary>
    [FsCheck.NUnit.Property(MaxTest = 300)]
    public unsafe bool QuantizedBlocksFollowTheOcpRule(float[] row, bool wideBlocks)
    {
        int bs = wideBlocks ? 64 : 32, k = Math.Max(1, row.Length), nb = (k + bs - 1) / bs;
        float[] a = row.Length == 0 ? [0f] : row;
        var codes = new sbyte[nb * bs];
        var scales = new byte[nb];
        fixed (float* pa = a) fixed (sbyte* q = codes) fixed (byte* s = scales)
            ActivationQuantizer.QuantizeRow(pa, k, bs, q, s);
        for (int j = 0; j < nb; j++)
        {
            var block = a.Skip(j * bs).Take(bs).ToArray();
            if (block.Any(v => !float.IsFinite(v)))
            {
                if (scales[j] != 0xFF) return false;
                continue;
            }
            double amax = block.Max(v => Math.Abs((double)v));
            if (amax == 0) { if (scales[j] != 0) return false; continue; }
            int e = Math.Clamp((int)Math.Floor(Math.Log2(amax)), -127, 127);
            if (scales[j] != e + 127) return false;
            for (int i = 0; i < block.Length; i++)
            {
                double want = Math.Clamp(Math.Round(Math.ScaleB((double)block[i], 6 - e), MidpointRounding.ToEven), -127, 127);
                if (codes[j * bs + i] != want) return false;
            }
        }
        for (int i = k; i < codes.Length; i++)
            if (codes[i] != 0) return false;
        return true;
    }
}
