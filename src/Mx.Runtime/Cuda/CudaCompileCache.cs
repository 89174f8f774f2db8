using System.Security.Cryptography;
using System.Text;
using Mx.Runtime.IO;

namespace Mx.Runtime.Cuda;

/// <summary>
/// On-disk cache of NVRTC output (CUBIN), so each kernel variant is compiled once per machine. The key is a SHA-256
/// of everything that determines the binary: source, headers, options, target architecture and NVRTC version.
/// Files are written atomically (temporary file + rename), so concurrent processes never see a partial binary.
/// </summary>
public sealed class CudaCompileCache
{
    /// <summary>Uses <paramref name="directory"/> (created on first write).</summary>
    public CudaCompileCache(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        Directory = directory;
    }

    /// <summary>The cache directory.</summary>
    public string Directory { get; }

    /// <summary>
    /// The default directory: <c>$MX_CUDA_CACHE</c>, else <c>$XDG_CACHE_HOME/mx-onnx/cuda</c>, else
    /// <c>~/.cache/mx-onnx/cuda</c> (the temporary directory when there is no home).
    /// </summary>
    public static string DefaultDirectory(Func<string, string?>? getEnv = null)
    {
        getEnv ??= Environment.GetEnvironmentVariable;
        if (getEnv(CudaLibraryPaths.CacheVariable) is { Length: > 0 } explicitDir) return explicitDir;
        if (getEnv("XDG_CACHE_HOME") is { Length: > 0 } xdg) return Path.Combine(xdg, "mx-onnx", "cuda");
        string home = getEnv("HOME") is { Length: > 0 } h ? h : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return string.IsNullOrEmpty(home)
            ? Path.Combine(Path.GetTempPath(), "mx-onnx-cuda")
            : Path.Combine(home, ".cache", "mx-onnx", "cuda");
    }

    /// <summary>The cache key: lower-case hex SHA-256 of the inputs (length-prefixed, so no two inputs collide by concatenation).</summary>
    public static string Key(string source, IReadOnlyDictionary<string, string> headers, IReadOnlyList<string> options, int arch, string nvrtcVersion)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Add(string s)
        {
            byte[] b = Encoding.UTF8.GetBytes(s);
            h.AppendData(BitConverter.GetBytes((long)b.Length));
            h.AppendData(b);
        }
        Add("mx-onnx-cuda-cache-v1");
        Add(source);
        foreach (var kv in headers.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            Add(kv.Key);
            Add(kv.Value);
        }
        Add(string.Join("\n", options));
        Add($"sm_{arch}");
        Add(nvrtcVersion);
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }

    /// <summary>The file a key is stored in.</summary>
    public string PathFor(string entryName, int arch, string key) => Path.Combine(Directory, $"{entryName}-sm{arch}-{key}.cubin");

    /// <summary>
    /// The CUBIN of <paramref name="variant"/> for <c>sm_<paramref name="arch"/></c>: from the cache when present,
    /// otherwise compiled with <paramref name="nvrtc"/> and stored. An unwritable cache is not an error (the binary is still returned).
    /// </summary>
    public byte[] GetOrCompile(Nvrtc nvrtc, CudaKernelVariant variant, int arch, out bool fromCache)
    {
        ArgumentNullException.ThrowIfNull(nvrtc);
        ArgumentNullException.ThrowIfNull(variant);
        string source = CudaKernelSources.Get(variant.SourceName);
        var headers = CudaKernelSources.Headers;
        string key = Key(source, headers, variant.Defines, arch, nvrtc.Version);
        string path = PathFor(variant.EntryName, arch, key);
        if (File.Exists(path))
        {
            byte[] cached = File.ReadAllBytes(path);
            if (cached.Length > 0)
            {
                fromCache = true;
                return cached;
            }
        }
        byte[] cubin = nvrtc.Compile(source, variant.SourceName, headers, arch, variant.Defines).Cubin;
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
            AtomicFile.Write(path, s => s.Write(cubin));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A read-only or full cache only costs a recompile next time.
        }
        fromCache = false;
        return cubin;
    }
}
