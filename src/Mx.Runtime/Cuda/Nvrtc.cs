using System.Runtime.InteropServices;
using System.Text;
using Mx.Runtime.Interop;

namespace Mx.Runtime.Cuda;

/// <summary>
/// NVRTC (the CUDA runtime compiler, <c>libnvrtc.so.*</c>) bound at run time through function pointers. Compiles CUDA C
/// to PTX and CUBIN for a given architecture; needs no GPU. Every nvrtcResult goes through one check that throws
/// <see cref="CudaException"/> with the error's name, and compile errors carry the program log.
/// </summary>
public sealed unsafe class Nvrtc
{
    private readonly delegate* unmanaged<int, byte*> _getErrorString;
    private readonly delegate* unmanaged<nint*, byte*, byte*, int, byte**, byte**, int> _createProgram;
    private readonly delegate* unmanaged<nint*, int> _destroyProgram;
    private readonly delegate* unmanaged<nint, int, byte**, int> _compileProgram;
    private readonly delegate* unmanaged<nint, nuint*, int> _getPtxSize;
    private readonly delegate* unmanaged<nint, byte*, int> _getPtx;
    private readonly delegate* unmanaged<nint, nuint*, int> _getCubinSize;
    private readonly delegate* unmanaged<nint, byte*, int> _getCubin;
    private readonly delegate* unmanaged<nint, nuint*, int> _getLogSize;
    private readonly delegate* unmanaged<nint, byte*, int> _getLog;
    private readonly delegate* unmanaged<int*, int> _getNumSupportedArchs;
    private readonly delegate* unmanaged<int*, int> _getSupportedArchs;

    private Nvrtc(nint h, string path)
    {
        Path = path;
        const string lib = "the NVRTC library";
        nint E(string name) => CudaExports.Required(h, lib, name);
        _getErrorString = (delegate* unmanaged<int, byte*>)E("nvrtcGetErrorString");
        _createProgram = (delegate* unmanaged<nint*, byte*, byte*, int, byte**, byte**, int>)E("nvrtcCreateProgram");
        _destroyProgram = (delegate* unmanaged<nint*, int>)E("nvrtcDestroyProgram");
        _compileProgram = (delegate* unmanaged<nint, int, byte**, int>)E("nvrtcCompileProgram");
        _getPtxSize = (delegate* unmanaged<nint, nuint*, int>)E("nvrtcGetPTXSize");
        _getPtx = (delegate* unmanaged<nint, byte*, int>)E("nvrtcGetPTX");
        _getCubinSize = (delegate* unmanaged<nint, nuint*, int>)E("nvrtcGetCUBINSize");
        _getCubin = (delegate* unmanaged<nint, byte*, int>)E("nvrtcGetCUBIN");
        _getLogSize = (delegate* unmanaged<nint, nuint*, int>)E("nvrtcGetProgramLogSize");
        _getLog = (delegate* unmanaged<nint, byte*, int>)E("nvrtcGetProgramLog");
        _getNumSupportedArchs = (delegate* unmanaged<int*, int>)NativeLibraryProbe.OptionalExport(h, "nvrtcGetNumSupportedArchs");
        _getSupportedArchs = (delegate* unmanaged<int*, int>)NativeLibraryProbe.OptionalExport(h, "nvrtcGetSupportedArchs");
        var version = (delegate* unmanaged<int*, int*, int>)E("nvrtcVersion");
        int major, minor;
        Check(version(&major, &minor), "nvrtcVersion");
        Version = $"{major}.{minor}";
    }

    /// <summary>The file NVRTC was loaded from.</summary>
    public string Path { get; }

    /// <summary>NVRTC's version, "major.minor" (part of every compile-cache key).</summary>
    public string Version { get; }

    /// <summary>
    /// Loads NVRTC from the candidates (<see cref="CudaLibraryPaths.NvrtcCandidates"/>). When the chosen file sits next to
    /// its <c>libnvrtc-builtins</c> library, that one is loaded first, so NVRTC finds it without LD_LIBRARY_PATH.
    /// On failure returns null and the reason (every path tried and why).
    /// </summary>
    public static Nvrtc? TryLoad(IReadOnlyList<string> candidates, out string reason)
    {
        if (!NativeLibraryProbe.TryLoad(candidates, "nvrtcCreateProgram", out nint h, out string path, out string failure))
        {
            reason = $"no NVRTC library (libnvrtc.so.*) was found; set {CudaLibraryPaths.NvrtcVariable} to its path; {failure}";
            return null;
        }
        PreloadBuiltins(path);
        try
        {
            reason = "";
            return new Nvrtc(h, path);
        }
        catch (Exception e) when (e is CudaUnavailableException or CudaException)
        {
            reason = $"{path}: {e.Message}";
            return null;
        }
    }

    /// <summary>Loads NVRTC as the environment says (<see cref="CudaLibraryPaths.NvrtcVariable"/> or the search).</summary>
    public static Nvrtc? TryLoadFromEnvironment(out string reason) =>
        TryLoad(CudaLibraryPaths.NvrtcCandidates(Environment.GetEnvironmentVariable(CudaLibraryPaths.NvrtcVariable)), out reason);

    /// <summary>The real architectures this NVRTC can compile for (e.g. 80, 90), empty when it cannot say.</summary>
    public IReadOnlyList<int> SupportedArchitectures()
    {
        if (_getNumSupportedArchs == null || _getSupportedArchs == null) return [];
        int n;
        Check(_getNumSupportedArchs(&n), "nvrtcGetNumSupportedArchs");
        var archs = new int[n];
        fixed (int* p = archs) Check(_getSupportedArchs(p), "nvrtcGetSupportedArchs");
        return archs;
    }

    /// <summary>
    /// Compiles <paramref name="source"/> (with in-memory <paramref name="headers"/>, include name → text) for
    /// <c>sm_<paramref name="arch"/></c> with extra <paramref name="options"/> (e.g. <c>-DMX_BITS=4</c>).
    /// Returns the PTX and CUBIN; a compile error throws <see cref="CudaException"/> with the program log.
    /// </summary>
    public NvrtcOutput Compile(string source, string name, IReadOnlyDictionary<string, string> headers, int arch, IReadOnlyList<string> options)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (arch < 50 || arch > 200) throw new ArgumentOutOfRangeException(nameof(arch), arch, "expected a compute capability such as 80 or 90");
        var allOptions = new List<string> { $"--gpu-architecture=sm_{arch}", "--std=c++17" };
        allOptions.AddRange(options);
        var native = new List<nint>();
        try
        {
            nint Z(string s)
            {
                byte[] b = Encoding.UTF8.GetBytes(s + "\0");
                nint p = (nint)NativeMemory.Alloc((nuint)b.Length);
                b.CopyTo(new Span<byte>((void*)p, b.Length));
                native.Add(p);
                return p;
            }
            var headerNames = headers.Keys.ToArray();
            byte** hdrText = stackalloc byte*[Math.Max(1, headerNames.Length)];
            byte** hdrNames = stackalloc byte*[Math.Max(1, headerNames.Length)];
            for (int i = 0; i < headerNames.Length; i++)
            {
                hdrText[i] = (byte*)Z(headers[headerNames[i]]);
                hdrNames[i] = (byte*)Z(headerNames[i]);
            }
            byte** opts = stackalloc byte*[allOptions.Count];
            for (int i = 0; i < allOptions.Count; i++) opts[i] = (byte*)Z(allOptions[i]);

            nint prog;
            Check(_createProgram(&prog, (byte*)Z(source), (byte*)Z(name), headerNames.Length, hdrText, hdrNames), "nvrtcCreateProgram");
            try
            {
                int rc = _compileProgram(prog, allOptions.Count, opts);
                string log = ReadLog(prog);
                if (rc != 0)
                    throw new CudaException($"NVRTC {Version} could not compile {name} ({string.Join(" ", allOptions)}): {ErrorName(rc)}: {log.Trim()}", rc);
                return new NvrtcOutput(ReadPtx(prog), ReadCubin(prog), log);
            }
            finally
            {
                Check(_destroyProgram(&prog), "nvrtcDestroyProgram");
            }
        }
        finally
        {
            foreach (nint p in native) NativeMemory.Free((void*)p);
        }
    }

    private string ReadLog(nint prog)
    {
        nuint size;
        Check(_getLogSize(prog, &size), "nvrtcGetProgramLogSize");
        var buf = new byte[(int)size];
        fixed (byte* p = buf) Check(_getLog(prog, p), "nvrtcGetProgramLog");
        return Encoding.UTF8.GetString(buf).TrimEnd('\0');
    }

    private string ReadPtx(nint prog)
    {
        nuint size;
        Check(_getPtxSize(prog, &size), "nvrtcGetPTXSize");
        var buf = new byte[(int)size];
        fixed (byte* p = buf) Check(_getPtx(prog, p), "nvrtcGetPTX");
        return Encoding.UTF8.GetString(buf).TrimEnd('\0');
    }

    private byte[] ReadCubin(nint prog)
    {
        nuint size;
        Check(_getCubinSize(prog, &size), "nvrtcGetCUBINSize");
        var buf = new byte[(int)size];
        fixed (byte* p = buf) Check(_getCubin(prog, p), "nvrtcGetCUBIN");
        return buf;
    }

    /// <summary>Throws <see cref="CudaException"/> naming the call and NVRTC's error string when <paramref name="result"/> is not NVRTC_SUCCESS.</summary>
    public void Check(int result, string call)
    {
        if (result != 0) throw new CudaException($"{call} failed: {ErrorName(result)}", result);
    }

    private string ErrorName(int result)
    {
        byte* s = _getErrorString(result);
        return s == null ? $"nvrtcResult {result}" : Marshal.PtrToStringUTF8((nint)s) ?? $"nvrtcResult {result}";
    }

    private static void PreloadBuiltins(string candidate)
    {
        if (!candidate.Contains('/')) return;
        string? dir = System.IO.Path.GetDirectoryName(candidate);
        if (dir == null || !Directory.Exists(dir) || !File.Exists(candidate)) return;
        foreach (string b in Directory.EnumerateFiles(dir, "libnvrtc-builtins.so*").Order(StringComparer.Ordinal))
            NativeLibrary.TryLoad(b, out _);
    }
}

/// <summary>What NVRTC produced: PTX text, the CUBIN for the requested architecture, and the compile log (warnings).</summary>
public sealed record NvrtcOutput(string Ptx, byte[] Cubin, string Log);
