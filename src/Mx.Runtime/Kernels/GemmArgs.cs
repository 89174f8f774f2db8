namespace Mx.Runtime.Kernels;

/// <summary>Everything one GEMM call's work items read: raw pointers valid for the duration of the call.</summary>
internal readonly unsafe struct GemmArgs
{
    public GemmArgs(MxPackedWeight w, float* a, int m, float* bias, float* y, float* scaleTable, in DecodeLuts luts)
    {
        W = w; A = a; M = m; Bias = bias; Y = y; ScaleTable = scaleTable; Luts = luts;
    }

    public readonly MxPackedWeight W;
    /// <summary>[M, K] row-major activations.</summary>
    public readonly float* A;
    public readonly int M;
    /// <summary>[N] or null.</summary>
    public readonly float* Bias;
    /// <summary>[M, N] row-major output.</summary>
    public readonly float* Y;
    /// <summary>E8M0 byte → block scale, times 2^−IntShift when the decoder yields integer values.</summary>
    public readonly float* ScaleTable;
    public readonly DecodeLuts Luts;
}
