using System.Globalization;

namespace Mx.Calibration.Selection;

/// <summary>
/// What the selection must meet: an average of at most <see cref="MaxBits"/> bits per weight (scales included, over
/// the calibrated weights; output error minimised), a model of at most <see cref="MaxBytes"/> bytes (the calibrated
/// weights' stored bytes plus everything else the model holds; output error minimised), or an output SQNR of at least
/// <see cref="MinSqnrDb"/> dB (size minimised).
/// </summary>
public sealed record Budget
{
    private Budget(double? maxBits, double? minSqnrDb, long? maxBytes = null)
    {
        MaxBits = maxBits;
        MinSqnrDb = minSqnrDb;
        MaxBytes = maxBytes;
    }

    /// <summary>The model size cap in bytes, or null. A size budget also sets <see cref="MaxBits"/> once the calibrator knows the weights (<see cref="WithBits"/>).</summary>
    public long? MaxBytes { get; }

    /// <summary>At most <paramref name="bytes"/> bytes of model.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not positive.</exception>
    public static Budget Size(long bytes) =>
        bytes > 0 ? new Budget(null, null, bytes) : throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "--max-size must be a positive number of bytes");

    /// <summary>This size budget with the bits cap it amounts to.</summary>
    public Budget WithBits(double bits) => new(bits, null, MaxBytes);

    /// <summary>The bits cap, or null.</summary>
    public double? MaxBits { get; }

    /// <summary>The output SQNR floor in dB, or null.</summary>
    public double? MinSqnrDb { get; }

    /// <summary>At most <paramref name="bits"/> average bits per weight.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not a positive finite number.</exception>
    public static Budget Bits(double bits) =>
        double.IsFinite(bits) && bits > 0 ? new Budget(bits, null) : throw new ArgumentOutOfRangeException(nameof(bits), bits, "--max-bits must be a positive number of bits per weight");

    /// <summary>At least <paramref name="db"/> dB output SQNR.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not a finite number.</exception>
    public static Budget Sqnr(double db) =>
        double.IsFinite(db) ? new Budget(null, db) : throw new ArgumentOutOfRangeException(nameof(db), db, "--min-sqnr must be a finite number of dB");

    /// <inheritdoc/>
    public override string ToString() => MaxBytes is long size
        ? $"max {size.ToString(CultureInfo.InvariantCulture)} bytes" + (MaxBits is double sb ? $" ({sb.ToString("0.###", CultureInfo.InvariantCulture)} bits/weight)" : "")
        : MaxBits is double b
        ? $"max {b.ToString("0.###", CultureInfo.InvariantCulture)} bits/weight"
        : $"min {MinSqnrDb!.Value.ToString("0.##", CultureInfo.InvariantCulture)} dB output SQNR";
}
