using System.Runtime;

namespace Mx.Calibration;

/// <summary>
/// Returns the memory of large temporary arrays (a weight's quantized copies, its Δ in float64) as soon as a step that
/// made them ends. Without this the garbage collector, seeing free memory, lets hundreds of MB per weight pile up on
/// the large-object heap, and a multi-GB model's peak RSS grows far past what calibration holds.
/// </summary>
internal static class LargeGarbage
{
    /// <summary>Steps that made fewer bytes of temporaries than this leave collection to the runtime.</summary>
    public const long Threshold = 64L << 20;

    /// <summary>Collects (compacting the large-object heap) when a step made at least <see cref="Threshold"/> bytes of temporaries.</summary>
    public static void Collect(long temporaryBytes)
    {
        if (temporaryBytes < Threshold) return;
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect();
    }
}
