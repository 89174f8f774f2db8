namespace Mx.Runtime.Cuda;

/// <summary>
/// Entry point of the CUDA backend: finds the driver and NVRTC at run time, reports availability with the reason when
/// not, and opens the device. Nothing here throws for a missing GPU; <see cref="Open"/> throws
/// <see cref="CudaUnavailableException"/> carrying the same reason.
/// </summary>
public static class CudaBackend
{
    private static readonly Lazy<(CudaAvailability Availability, CudaDriver? Driver, Nvrtc? Nvrtc)> s_probe =
        new(() => Probe(Environment.GetEnvironmentVariable(CudaLibraryPaths.DriverVariable),
                        Environment.GetEnvironmentVariable(CudaLibraryPaths.NvrtcVariable)));

    private static readonly Lock s_lock = new();
    private static CudaDevice? s_device;

    /// <summary>Availability as the environment says (probed once per process).</summary>
    public static CudaAvailability GetAvailability() => s_probe.Value.Availability;

    /// <summary>True when CUDA can be used; otherwise <paramref name="availability"/> says why.</summary>
    public static bool TryGetAvailability(out CudaAvailability availability)
    {
        availability = GetAvailability();
        return availability.IsAvailable;
    }

    /// <summary>Device 0, opened once per process (primary context, one stream, compile cache at the default directory).</summary>
    /// <exception cref="CudaUnavailableException">CUDA is not available; the message says why.</exception>
    public static CudaDevice Open()
    {
        lock (s_lock)
        {
            if (s_device != null) return s_device;
            var (availability, driver, nvrtc) = s_probe.Value;
            if (!availability.IsAvailable) throw new CudaUnavailableException(availability.Reason);
            s_device = new CudaDevice(driver!, nvrtc!, 0, availability, new CudaCompileCache(CudaCompileCache.DefaultDirectory()));
            return s_device;
        }
    }

    /// <summary>
    /// Probes with explicit overrides (null: search), without caching: loads the driver, initializes it, checks device 0's
    /// compute capability, then loads NVRTC. The first failure is the reason.
    /// </summary>
    public static CudaAvailability ProbeAvailability(string? driverOverride, string? nvrtcOverride) => Probe(driverOverride, nvrtcOverride).Item1;

    private static unsafe (CudaAvailability, CudaDriver?, Nvrtc?) Probe(string? driverOverride, string? nvrtcOverride)
    {
        var driver = CudaDriver.TryLoad(CudaLibraryPaths.DriverCandidates(driverOverride), out string reason);
        if (driver == null) return (new CudaAvailability(false, reason), null, null);
        try
        {
            int rc = driver.cuInit(0);
            if (rc != 0) return (new CudaAvailability(false, $"cuInit failed with {driver.Describe(rc)} (driver {driver.Path})", DriverPath: driver.Path), null, null);
            int version, count;
            driver.Check(driver.cuDriverGetVersion(&version), "cuDriverGetVersion");
            driver.Check(driver.cuDeviceGetCount(&count), "cuDeviceGetCount");
            if (count < 1) return (new CudaAvailability(false, "the CUDA driver reports no devices", DriverVersion: version, DriverPath: driver.Path), null, null);
            int dev;
            driver.Check(driver.cuDeviceGet(&dev, 0), "cuDeviceGet");
            string name = driver.DeviceName(dev);
            int cc = driver.Attribute(dev, CudaDriver.AttrComputeCapabilityMajor) * 10 + driver.Attribute(dev, CudaDriver.AttrComputeCapabilityMinor);
            if (cc < CudaAvailability.MinimumComputeCapability)
                return (new CudaAvailability(false, $"{name} is sm_{cc}; the MX kernels need sm_{CudaAvailability.MinimumComputeCapability} or newer (bf16 tensor cores)",
                    name, cc, version, driver.Path), null, null);
            var nvrtc = Nvrtc.TryLoad(CudaLibraryPaths.NvrtcCandidates(nvrtcOverride), out string nvrtcReason);
            if (nvrtc == null) return (new CudaAvailability(false, nvrtcReason, name, cc, version, driver.Path), null, null);
            return (new CudaAvailability(true, "", name, cc, version, driver.Path, nvrtc.Version, nvrtc.Path), driver, nvrtc);
        }
        catch (CudaException e)
        {
            return (new CudaAvailability(false, e.Message, DriverPath: driver.Path), null, null);
        }
    }
}
