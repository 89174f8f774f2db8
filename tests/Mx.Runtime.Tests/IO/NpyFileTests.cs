using System.IO.Compression;
using System.Text;
using Mx.Runtime.IO;
using Mx.Tests.Common;

namespace Mx.Runtime.Tests.IO;

public class NpyFileTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "mx-npy-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, true);

    private static readonly TensorElementType[] Types =
    [
        TensorElementType.Float, TensorElementType.Float16, TensorElementType.Double, TensorElementType.Int64,
        TensorElementType.Int32, TensorElementType.Int8, TensorElementType.UInt8, TensorElementType.Bool,
    ];

    private static readonly long[][] Shapes = [[], [1], [7], [2, 3], [3, 0, 2], [0], [2, 1, 3, 4]];

    private static HostTensor Random(TensorElementType type, long[] shape, int seed)
    {
        var t = HostTensor.Zeros(type, shape);
        new Random(seed).NextBytes(t.Data);
        if (type == TensorElementType.Bool)
            for (int i = 0; i < t.Data.Length; i++) t.Data[i] &= 1;
        return t;
    }

    [Test]
    public void RoundTripsEveryDtypeAndShape()
    {
        int seed = 0;
        foreach (var type in Types)
            foreach (var shape in Shapes)
            {
                var t = Random(type, shape, seed++);
                string path = Path.Combine(_dir, $"{type}_{shape.Length}.npy");
                NpyFile.Write(path, t);
                var back = NpyFile.Read(path);
                Assert.That(back.ElementType, Is.EqualTo(type), path);
                Assert.That(back.Shape, Is.EqualTo(shape), path);
                Assert.That(back.Data, Is.EqualTo(t.Data), path);
                Assert.That(new FileInfo(path).Length - t.Data.Length, Is.EqualTo(64).Or.EqualTo(128), "header padded to 64 bytes");
            }
        Assert.That(Directory.GetFiles(_dir, "*.tmp", SearchOption.AllDirectories), Is.Empty, "no temporary files left");
    }

    [Test]
    public void WrittenHeaderIsNumpysFormat()
    {
        string path = Path.Combine(_dir, "a.npy");
        NpyFile.Write(path, HostTensor.Zeros(TensorElementType.Int64, 5));
        byte[] bytes = File.ReadAllBytes(path);
        Assert.That(bytes[..8], Is.EqualTo(new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0 }));
        int len = BitConverter.ToUInt16(bytes, 8);
        string header = Encoding.ASCII.GetString(bytes, 10, len);
        Assert.That(header, Does.StartWith("{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }"));
        Assert.That(header, Does.EndWith("\n"));
    }

    [Test]
    public void ReadsVersion2And3Headers()
    {
        foreach (byte major in new byte[] { 2, 3 })
        {
            string path = Path.Combine(_dir, $"v{major}.npy");
            File.WriteAllBytes(path, Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", [0, 0, 128, 63, 0, 0, 0, 64], major));
            var t = NpyFile.Read(path);
            Assert.That(t.AsSpan<float>().ToArray(), Is.EqualTo(new[] { 1f, 2f }));
        }
    }

    /// <summary>A .npy image with the given header text and data, header padded the way NumPy pads it.</summary>
    private static byte[] Npy(string dict, byte[] data, byte major = 1)
    {
        int prefix = major == 1 ? 10 : 12;
        int total = (prefix + dict.Length + 1 + 63) / 64 * 64;
        string padded = dict.PadRight(total - prefix - 1) + "\n";
        var ms = new MemoryStream();
        ms.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', major, 0]);
        if (major == 1) ms.Write(BitConverter.GetBytes((ushort)padded.Length));
        else ms.Write(BitConverter.GetBytes((uint)padded.Length));
        ms.Write(Encoding.UTF8.GetBytes(padded));
        ms.Write(data);
        return ms.ToArray();
    }

    private NpyFormatException Malformed(string name, byte[] content)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, content);
        var e = Assert.Throws<NpyFormatException>(() => NpyFile.Read(path));
        Assert.That(e!.Message, Does.Contain(path));
        return e;
    }

    [Test]
    public void MalformedFilesGiveClearErrors()
    {
        Assert.That(Malformed("fortran.npy", Npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", new byte[16])).Message, Does.Contain("Fortran"));
        Assert.That(Malformed("object.npy", Npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", new byte[8])).Message, Does.Contain("object"));
        Assert.That(Malformed("unicode.npy", Npy("{'descr': '<U5', 'fortran_order': False, 'shape': (1,), }", new byte[20])).Message, Does.Contain("unicode"));
        Assert.That(Malformed("complex.npy", Npy("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", new byte[8])).Message, Does.Contain("'<c8'"));
        Assert.That(Malformed("bigendian.npy", Npy("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", new byte[4])).Message, Does.Contain("big-endian"));
        Assert.That(Malformed("garbled.npy", Npy("{'descr': '<f4', 'fortran_order': Fals", [])).Message, Does.Contain("does not parse"));
        Assert.That(Malformed("noshape.npy", Npy("{'descr': '<f4', 'fortran_order': False, }", [])).Message, Does.Contain("'shape'"));
        Assert.That(Malformed("short.npy", Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", new byte[8])).Message, Does.Contain("8 bytes").And.Contain("12"));
        Assert.That(Malformed("long.npy", Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", new byte[8])).Message, Does.Contain("8 bytes").And.Contain("needs 4"));
        Assert.That(Malformed("notnpy.npy", Encoding.ASCII.GetBytes("hello world, not numpy")).Message, Does.Contain("magic"));
        Assert.That(Malformed("v9.npy", Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", new byte[4], major: 9)).Message, Does.Contain("version 9"));
        Assert.That(Malformed("badbool.npy", Npy("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", [1, 7])).Message, Does.Contain("bool"));
        Assert.Throws<FileNotFoundException>(() => NpyFile.Read(Path.Combine(_dir, "absent.npy")));
    }

    [Test]
    public void FortranOrderOfAVectorIsTheSameAsCOrder()
    {
        string path = Path.Combine(_dir, "fvec.npy");
        File.WriteAllBytes(path, Npy("{'descr': '<i4', 'fortran_order': True, 'shape': (1, 2), }", [5, 0, 0, 0, 6, 0, 0, 0]));
        Assert.That(NpyFile.Read(path).AsSpan<int>().ToArray(), Is.EqualTo(new[] { 5, 6 }));
    }

    [Test]
    public void UnsupportedElementTypeIsNotWritten()
    {
        string path = Path.Combine(_dir, "u4.npy");
        var e = Assert.Throws<NpyFormatException>(() => NpyFile.Write(path, HostTensor.Zeros(TensorElementType.Int4, 4)));
        Assert.That(e!.Message, Does.Contain(path).And.Contain("int4"));
        Assert.That(File.Exists(path), Is.False);
    }

    [Test]
    public void NpzRoundTripsStoredAndDeflated()
    {
        var tensors = new Dictionary<string, HostTensor>
        {
            ["weights"] = Random(TensorElementType.Float, [4, 8], 1),
            ["ids"] = Random(TensorElementType.Int64, [3], 2),
            ["flag"] = Random(TensorElementType.Bool, [], 3),
        };
        foreach (bool compress in new[] { false, true })
        {
            string path = Path.Combine(_dir, $"a{compress}.npz");
            NpzFile.Write(path, tensors, compress);
            using (var zip = ZipFile.OpenRead(path))
                Assert.That(zip.Entries.Select(e => e.FullName), Is.EqualTo(new[] { "weights.npy", "ids.npy", "flag.npy" }));
            var back = NpzFile.Read(path);
            Assert.That(back.Keys, Is.EqualTo(tensors.Keys));
            foreach (var (k, t) in tensors)
            {
                Assert.That(back[k].Shape, Is.EqualTo(t.Shape));
                Assert.That(back[k].Data, Is.EqualTo(t.Data));
            }
        }
    }

    [Test]
    public void NpzErrorsNameArchiveAndMember()
    {
        string path = Path.Combine(_dir, "bad.npz");
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
        {
            using (var s = zip.CreateEntry("good.npy").Open()) NpyFile.Write(s, HostTensor.Zeros(TensorElementType.Float, 2), "good");
            using (var s = zip.CreateEntry("broken.npy").Open()) s.Write(Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", new byte[4]));
        }
        var e = Assert.Throws<NpyFormatException>(() => NpzFile.Read(path));
        Assert.That(e!.Message, Does.Contain(path).And.Contain("broken.npy"));

        string notZip = Path.Combine(_dir, "notzip.npz");
        File.WriteAllText(notZip, "plain text");
        e = Assert.Throws<NpyFormatException>(() => NpzFile.Read(notZip));
        Assert.That(e!.Message, Does.Contain(notZip));
    }

    [Test]
    public void ReadsSharedMnistDigitsAndLabels()
    {
        var digits = NpyFile.Read(TestPaths.Shared("calib", "mnist", "digits.npy"));
        Assert.That(digits.ElementType, Is.EqualTo(TensorElementType.Float));
        Assert.That(digits.Shape, Is.EqualTo(new long[] { 512, 1, 28, 28 }));
        var pixels = digits.AsSpan<float>();
        float min = float.MaxValue, max = float.MinValue;
        foreach (float p in pixels) { min = Math.Min(min, p); max = Math.Max(max, p); }
        Assert.That(min, Is.GreaterThanOrEqualTo(0f));
        Assert.That(max, Is.LessThanOrEqualTo(1f).And.GreaterThan(0.5f));

        var labels = NpyFile.Read(TestPaths.Shared("calib", "mnist", "labels.npy"));
        Assert.That(labels.ElementType, Is.EqualTo(TensorElementType.Int64));
        Assert.That(labels.Shape, Is.EqualTo(new long[] { 512 }));
        Assert.That(labels.AsSpan<long>().ToArray(), Is.All.InRange(0L, 9L));
    }

    [Test]
    public void ReadsEverySharedCalibrationFile()
    {
        string dir = TestPaths.Shared("calib");
        var files = Directory.GetFiles(dir, "*.npy", SearchOption.AllDirectories);
        Assert.That(files, Is.Not.Empty);
        foreach (string f in files)
        {
            var t = NpyFile.Read(f);
            Assert.That(t.Data.LongLength, Is.EqualTo(t.ElementType.ByteCount(t.ElementCount)), f);
        }
    }
}
