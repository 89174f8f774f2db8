namespace Mx.Calibration.Statistics;

/// <summary>The statistics of one calibration pass: per activation site (by weight name) and per weight.</summary>
/// <param name="Activations">Weight name → statistics of the activation its op reads.</param>
/// <param name="Weights">Weight name → statistics of the weight in its MX layout.</param>
/// <param name="Samples">Samples streamed.</param>
public sealed record CalibrationStatistics(IReadOnlyDictionary<string, TensorStatistics> Activations, IReadOnlyDictionary<string, TensorStatistics> Weights, int Samples);

/// <summary>Sizes of the statistics' bounded parts.</summary>
public sealed record StatisticsOptions
{
    /// <summary>Rows each activation's reservoir keeps. Default 256.</summary>
    public int ReservoirCapacity { get; init; } = 256;

    /// <summary>Channels per block for the block-amax histograms. Default 32.</summary>
    public int BlockSize { get; init; } = 32;

    /// <summary>Seed of the reservoirs.</summary>
    public int Seed { get; init; } = 12345;
}
