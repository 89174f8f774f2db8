namespace Mx.Calibration.Capture;

/// <summary>Sizes and rules of the capture pass (the capture pass).</summary>
public sealed record CaptureOptions
{
    /// <summary>One GiB.</summary>
    public const long GiB = 1L << 30;

    /// <summary>
    /// Input rows per sample and layer input that enter H and the reservoir; a sample with more rows (a Conv at high
    /// resolution, a long sequence) contributes a seeded uniform subset, each kept row weighing (rows available)/(rows
    /// kept), so H still stands for every row. Default 1024.
    /// </summary>
    public int MaxRowsPerSample { get; init; } = 1024;

    /// <summary>Rows each layer input's reservoir keeps (the rows ‖XΔ‖² is computed on when H is not used). Default 512.</summary>
    public int ReservoirRows { get; init; } = 512;

    /// <summary>
    /// Every n-th sample (n = this value, the last of each n) is held out: its rows go to a separate H and reservoir
    /// (for held-out errors, e.g. GPTQ's guard). 0 (default): nothing is held out.
    /// </summary>
    public int HoldOutEvery { get; init; }

    /// <summary>Seed of the row subsets and reservoirs.</summary>
    public int Seed { get; init; } = 12345;

    /// <summary>
    /// Memory the capture may use beyond the model (the statistics plus one sample's captured values): layer inputs
    /// are captured in chunks whose statistics fit, and the Gram matrices of finished chunks are spilled to disk when
    /// the total would not fit. Default 2 GiB.
    /// </summary>
    public long MemoryBytes { get; init; } = 2 * GiB;

    /// <summary>Folder for spilled statistics (a new folder under the temp folder when null); deleted with the result.</summary>
    public string? SpillFolder { get; init; }

    /// <summary>
    /// The graph input holding an attention mask ([batch, sequence], 0 = padding): rows of padded positions are left
    /// out of every statistic. Null: an input named <c>attention_mask</c>, if the model has one.
    /// </summary>
    public string? MaskInput { get; init; }

    /// <summary>Most captured values requested as extra outputs in one pass over the samples. Default 256.</summary>
    public int MaxOutputsPerPass { get; init; } = 256;
}
