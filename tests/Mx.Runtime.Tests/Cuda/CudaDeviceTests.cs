using Mx.Runtime.Cuda;

namespace Mx.Runtime.Tests.Cuda;

/// <summary>Device correctness against the CPU reference; skipped with the reason when no usable GPU is present (always in CI).</summary>
public class CudaDeviceTests
{
    [Test]
    public void EveryFormatAndOddShapeMatchesTheCpuReference()
    {
        if (!CudaBackend.TryGetAvailability(out var availability)) Assert.Ignore(availability.ToString());
        var device = CudaBackend.Open();
        var results = CudaSelfTest.Run(device).ToList();
        Assert.That(results, Is.Not.Empty);
        Assert.That(results.Where(r => !r.Passed).Select(r => r.ToString()), Is.Empty);
    }
}
