namespace Mx.Runtime.Kernels;

/// <summary>
/// The state one kernel call's work items read, and the one delegate the parallel runner calls: reused per calling
/// thread, so that a call allocates nothing once warm (a lambda per parallel loop would allocate its closure on every
/// call). Each loop names a static item function <c>fn(job, i0, i1)</c> that covers indices [i0, i1).
/// <para>
/// A runner's <see cref="IParallelRunner.For"/> returns only when all items are done, so the thread's job is free again
/// when the call ends; a call that starts while this thread's job is busy (a runner that runs other work on the waiting
/// thread) gets a fresh job instead.
/// </para>
/// </summary>
internal sealed unsafe class KernelJob
{
    [ThreadStatic] private static KernelJob? t_job;

    private delegate*<KernelJob, int, int, void> _fn;
    private int _total, _per;
    private bool _busy;

    /// <summary>The kernel being run.</summary>
    public MxMatMulKernel Kernel = null!;
    /// <summary>The call's pointers (a loop may replace them, e.g. with quantized activations).</summary>
    public GemmArgs G;
    /// <summary>Scratch pointers, a stride and a flag, as each loop documents.</summary>
    public nint P0, P1, P2;
    public long Stride;
    public bool Flag;
    public int Choice;

    /// <summary>The delegate handed to the runner (allocated once per job).</summary>
    public readonly Action<int> Body;

    private KernelJob() => Body = RunItem;

    /// <summary>This thread's job, set up for one call.</summary>
    public static KernelJob Enter(MxMatMulKernel kernel, in GemmArgs g)
    {
        KernelJob job = t_job ??= new KernelJob();
        if (job._busy) job = new KernelJob();
        job._busy = true;
        job.Kernel = kernel;
        job.G = g;
        return job;
    }

    /// <summary>Ends the call: drops the references so the weight and kernel can be collected.</summary>
    public void Exit()
    {
        Kernel = null!;
        G = default;
        P0 = P1 = P2 = 0;
        _fn = null;
        _busy = false;
    }

    /// <summary>Runs <paramref name="fn"/> over [0, <paramref name="total"/>) in items of <paramref name="per"/> indices.</summary>
    public void For(IParallelRunner runner, int total, int per, delegate*<KernelJob, int, int, void> fn)
    {
        if (total <= 0) return;
        per = Math.Max(1, per);
        _fn = fn;
        _total = total;
        _per = per;
        runner.For((total + per - 1) / per, Body);
    }

    private void RunItem(int i)
    {
        int i0 = i * _per;
        _fn(this, i0, Math.Min(_total, i0 + _per));
    }
}
