using Mx.Onnx.Quantization;
using Mx.Onnx.Tensors;
using Mx.Runtime;

namespace Mx.Onnx.Reports;

/// <summary>
/// Decodes a weight written with emit <c>matmulnbits</c>: the 4-bit codes ([N, blocks, block_size/2] uint8), float32
/// scales ([N, blocks]) and optional zero points of <see cref="MatMulNBitsWeight"/>, back to float32 in the order of
/// the record's <c>block_shape</c> (row r of the codes is the r-th line along the block axis, as for the MX layouts).
/// </summary>
internal static class MatMulNBitsDecoder
{
    public static DecodedWeight Decode(OnnxModel model, QuantizedTensorEntry entry, string where)
    {
        if (entry.Format != QuantizationMetadataWriter.NBitsFormat)
            throw new InvalidDataException($"{where}: emit matmulnbits stores '{QuantizationMetadataWriter.NBitsFormat}' weights, not '{entry.Format}'");
        if (entry.Axis < 0 || entry.Axis >= entry.BlockShape.Length)
            throw new InvalidDataException($"{where}: axis {entry.Axis} is outside block_shape [{string.Join(", ", entry.BlockShape)}]");
        if (!MatMulNBitsPacker.IsValidBlockSize(entry.BlockSize))
            throw new InvalidDataException($"{where}: block_size {entry.BlockSize} is not a MatMulNBits block size (a power of two, at least 16)");
        int k = entry.BlockShape[entry.Axis];
        long inner = entry.BlockShape.Skip(entry.Axis + 1).Aggregate(1L, (a, b) => a * b);
        long count = entry.BlockShape.Aggregate(1L, (a, b) => a * b), rows = count / k;
        int blocks = (k + entry.BlockSize - 1) / entry.BlockSize;
        var codes = QuantizedWeightDecoder.Bytes(model, entry.Elements, "codes", where);
        string scalesName = entry.Scales ?? throw new InvalidDataException($"{where}: matmulnbits weight without a scales initializer");
        var scales = ModelTensors.Find(model, scalesName) ?? throw new InvalidDataException($"{where}: scales initializer '{scalesName}' is not in the model");
        if (scales.ElementType != TensorElementType.Float)
            throw new InvalidDataException($"{where}: scales initializer '{scalesName}' is {scales.ElementType.OnnxName()}, expected float");
        byte[]? zeroPoints = entry.ZeroPoints is { } zp ? QuantizedWeightDecoder.Bytes(model, zp, "zero points", where).ToArray() : null;
        var w = new MatMulNBitsWeight((int)rows, k, entry.BlockSize, codes.ToArray(), scales.ReadFloat32(), zeroPoints);
        Expect(codes.Length, rows * blocks * entry.BlockSize / 2, entry.Elements, where);
        Expect(w.Scales.LongLength, rows * blocks, scalesName, where);
        if (zeroPoints != null) Expect(zeroPoints.LongLength, rows * w.ZeroPointBytesPerRow, entry.ZeroPoints!, where);

        var values = new float[count];
        for (long r = 0; r < rows; r++)
        {
            long outer = r / inner, i = r % inner;
            for (int j = 0; j < k; j++) values[(outer * k + j) * inner + i] = w.Value((int)r, j);
        }
        return new DecodedWeight(values, w.Bytes, w.Bytes);
    }

    private static void Expect(long actual, long expected, string name, string where)
    {
        if (actual != expected)
            throw new InvalidDataException($"{where}: initializer '{name}' has {actual} values but the layout needs {expected}");
    }
}
