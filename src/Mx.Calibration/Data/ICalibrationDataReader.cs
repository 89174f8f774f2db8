using Mx.Runtime;

namespace Mx.Calibration.Data;

/// <summary>
/// A stream of calibration samples, one model input set at a time, so an application can feed data it produces on
/// the fly (the same idea as ONNX Runtime's CalibrationDataReader). Each sample maps input names to tensors.
/// </summary>
public interface ICalibrationDataReader
{
    /// <summary>The next sample, or null when there are no more.</summary>
    IReadOnlyDictionary<string, HostTensor>? GetNext();
}

/// <summary>Adapters between <see cref="ICalibrationDataReader"/> and enumerables.</summary>
public static class CalibrationDataReaders
{
    /// <summary>A reader over an enumerable (enumerated lazily, once).</summary>
    public static ICalibrationDataReader FromEnumerable(IEnumerable<IReadOnlyDictionary<string, HostTensor>> samples) =>
        new EnumerableReader(samples ?? throw new ArgumentNullException(nameof(samples)));

    /// <summary>The reader's samples as an enumerable (reads the reader to its end).</summary>
    public static IEnumerable<IReadOnlyDictionary<string, HostTensor>> AsEnumerable(this ICalibrationDataReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        while (reader.GetNext() is { } sample) yield return sample;
    }

    private sealed class EnumerableReader(IEnumerable<IReadOnlyDictionary<string, HostTensor>> samples) : ICalibrationDataReader
    {
        private IEnumerator<IReadOnlyDictionary<string, HostTensor>>? _e;

        public IReadOnlyDictionary<string, HostTensor>? GetNext()
        {
            _e ??= samples.GetEnumerator();
            return _e.MoveNext() ? _e.Current : null;
        }
    }
}
