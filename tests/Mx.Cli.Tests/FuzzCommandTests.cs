namespace Mx.Cli.Tests;

/// <summary>
/// <c>mx fuzz ops</c>: corrupted packed models through the managed registration and the native op library. The run
/// returning at all means no mutant crashed the process; the exit code says every failure was an ORT error naming the
/// node or the corrupted tensor, and that both registrations agreed (same outcome, same output bits).
/// </summary>
public class FuzzCommandTests : CliTest
{
    [Test]
    public void SixHundredMutants_ThroughBothRegistrations_BreakNoRule()
    {
        var (code, stdout, stderr) = Mx("fuzz", "ops", "--count", "600", "--seed", "11");
        Assert.That(code, Is.Zero, stdout + stderr);
        Assert.That(stdout, Does.Contain("600 mutants, 1200 loads (managed registration and libmxonnx"));
        Assert.That(stdout, Does.Contain("problems: 0"));
        // Both outcomes occur, and every kind of corruption was tried.
        var ran = System.Text.RegularExpressions.Regex.Match(stdout, @"ran: (\d+), ORT errors naming the node or tensor: (\d+)");
        Assert.That(int.Parse(ran.Groups[1].Value), Is.GreaterThan(100));
        Assert.That(int.Parse(ran.Groups[2].Value), Is.GreaterThan(100));
        foreach (var kind in Enum.GetNames<Mx.Cli.Fuzzing.MutationKind>())
            Assert.That(stdout, Does.Match($@"\b{kind} \d+"), kind);
    }

    [Test]
    public void CountBelowOneIsAUsageError()
    {
        var (code, _, stderr) = Mx("fuzz", "ops", "--count", "0", "--managed-only");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(stderr, Does.Contain("--count"));
    }
}
