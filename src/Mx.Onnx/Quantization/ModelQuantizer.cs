using Mx.Onnx.Proto;
using Mx.Runtime;
using Mx.Runtime.Formats;
using Mx.Runtime.Ops;

namespace Mx.Onnx.Quantization;

/// <summary>
/// Rewrites a model's weights to MX: finds the weights of MatMul, Gemm, Conv and Gather (initializers and Constant
/// nodes, in every graph), asks the <see cref="QuantizationPlan"/> what to do with each, quantizes them one at a time
/// (the float32 data is read through the model's memory maps and released after each tensor) and emits the chosen form.
/// The model is edited in place; save it with <see cref="OnnxModel.Save"/>.
/// </summary>
public static class ModelQuantizer
{
    /// <summary>Quantizes <paramref name="model"/> in place according to <paramref name="plan"/>.</summary>
    /// <returns>One record per quantized tensor and per skipped weight; the same content is stored in the model's metadata.</returns>
    /// <exception cref="QuantizationException">The model is already quantized (without Force), or a setting cannot be applied; nothing has been changed then.</exception>
    /// <exception cref="NotSupportedException">The emit form cannot express a format or the model's opset cannot be raised; nothing has been changed then.</exception>
    public static QuantizationResult Quantize(OnnxModel model, QuantizationPlan plan, IProgress<QuantizationProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(plan);
        var options = plan.Options;
        if (!options.Force && AlreadyQuantized.Find(model) is { } found)
            throw new QuantizationException($"{model.Source}: the model is already quantized (it has {found}); use --force to quantize it anyway");
        if (options.PruneBlocks is < 0 or >= 1 || double.IsNaN(options.PruneBlocks))
            throw new QuantizationException($"--prune-blocks {options.PruneBlocks} must be in [0, 1)");
        if (options.PruneBlocks > 0 && options.Storage != WeightStorage.KMajor)
            throw new QuantizationException("--prune-blocks needs --layout kmajor: the K-major kernels are the ones that skip pruned tiles");
        if (!(options.SparseThreshold >= 0) || float.IsInfinity(options.SparseThreshold))
            throw new QuantizationException($"--sparse-threshold {options.SparseThreshold} must be a finite number ≥ 0");
        if (options.Emit == EmitForm.Qdq && options.ActFormat != null)
            throw new QuantizationException($"activation quantization (--act-format {options.ActFormat.Name}) cannot be expressed in standard ONNX with MX blocks; use --emit packed or fake");

        bool nbits = options.Emit == EmitForm.MatMulNBits;
        int nbitsBlock = options.BlockSize ?? 32;
        if (nbits) CheckMatMulNBits(plan, nbitsBlock);

        var (candidates, others) = WeightFinder.Find(model);
        var decisions = candidates.Select(c => (Candidate: c, Decision: Resolve(plan, c, nbits))).ToList();
        var work = decisions.Where(d => d.Decision.Settings != null).Select(d => (d.Candidate, Settings: d.Decision.Settings!)).ToList();
        foreach (var (c, s) in work) Validate(c, s, options.Emit);
        if (options.Emit == EmitForm.Qdq && work.FirstOrDefault(w => w.Settings.ResolveActFormat(null) != null) is { Candidate: not null } withAct)
            throw new QuantizationException($"tensor '{withAct.Candidate.Name}': activation format {withAct.Settings.ActFormat!.Name} cannot be expressed in standard ONNX with MX blocks; use --emit packed or fake");

        var notes = new List<string>();
        if (options.Emit == EmitForm.Qdq && work.Count > 0)
        {
            int target = work.Max(w => QdqEncoding.RequiredOpset(w.Settings.Format));
            if (OpsetUpgrade.Raise(model, target) is { } raised) notes.Add(raised);
            if (target >= 24 && model.Proto.IrVersion < 12) model.Proto.IrVersion = 12; // FLOAT4E2M1 / FLOAT8E8M0 types
        }

        var ctx = new EmitContext(model, options);
        var records = new List<QuantizedTensorRecord>();
        long bytesTotal = work.Sum(w => w.Candidate.ElementCount * 4), bytesDone = 0;
        int done = 0;
        foreach (var (c, s) in work)
        {
            var source = model.GetTensorBytes(c.Constant.Tensor);
            for (int i = 0; i < c.Groups.Count; i++)
            {
                var group = c.Groups[i];
                if (nbits)
                {
                    var weight = MatMulNBitsPacker.Pack(source, group.Layout, nbitsBlock, options.MatMulNBits.ZeroPoints);
                    records.Add(Record(c, group, s with { BlockSize = nbitsBlock }, MatMulNBitsEmitter.Emit(ctx, c, group, weight, options.MatMulNBits), i));
                    continue;
                }
                var storageNotes = new List<string>();
                bool kmajor = UseKMajor(options, c, group, s, storageNotes);
                ReadOnlyMemory<byte> data = source;
                if (options.PruneBlocks > 0 && kmajor)
                {
                    double[]? moments = plan.InputSecondMoments.GetValueOrDefault(c.Name);
                    var (pruned, count, units) = BlockPruning.Prune(source.Span, group.Layout, options.PruneBlocks, moments);
                    data = pruned;
                    storageNotes.Add($"pruned {count} of {units} (K-block × 16-row) tiles ({100.0 * count / units:F1}%), by {(moments != null ? "Σ w²·E[x²] (calibration)" : "Σ w² (no calibration data)")}");
                }
                else if (options.PruneBlocks > 0)
                    storageNotes.Add("not pruned: block pruning applies to K-major weights");
                MxPackedTensor packed;
                try
                {
                    packed = WeightPacker.Pack(data, group.Layout, s);
                }
                catch (ArgumentException ex)
                {
                    throw new QuantizationException($"tensor '{c.Name}': {ex.Message}", ex);
                }
                var emitted = options.Emit switch
                {
                    EmitForm.Packed => PackedEmitter.Emit(ctx, c, group, packed, s, kmajor),
                    EmitForm.Qdq => QdqEmitter.Emit(ctx, c, group, packed, s),
                    _ => FakeEmitter.Emit(ctx, c, group, packed, s, first: i == 0),
                };
                records.Add(Record(c, group, s, emitted with { Notes = [.. storageNotes, .. emitted.Notes] }, i));
            }
            if (options.Emit != EmitForm.Fake) GraphEdits.RemoveConstant(c.Constant);
            MappedPages.Release(source);
            bytesDone += c.ElementCount * 4;
            progress?.Report(new QuantizationProgress(++done, work.Count, c.Name, bytesDone, bytesTotal));
        }

        var skipped = decisions.Where(d => d.Decision.SkipReason != null)
            .Select(d => new SkippedTensorRecord(d.Candidate.Name, d.Candidate.Op, d.Decision.SkipReason!)).ToList();
        foreach (var o in others)
        {
            var c = o.Constant;
            if (c.ElementType != TensorElementType.Float || c.Shape.Aggregate(1L, (a, b) => a * b) < options.MinElements || o.Uses.Count == 0) continue;
            var u = o.Uses[0];
            skipped.Add(new SkippedTensorRecord(c.Name, u.Op, $"not the weight input of a supported op (used by {u.Op} '{u.NodeName}')"));
        }
        if (records.Any(r => r.Notes.Count > 0 && options.Emit == EmitForm.Qdq && QdqEncoding.UsesE8M0Scales(r.Settings.Format)))
            notes.Add("MXFP4 as DequantizeLinear with FLOAT4E2M1 data and FLOAT8E8M0 scales (opset 24): ONNX Runtime 1.30's CPU provider cannot run it");
        if (ctx.UsesMxDomain && model.OpsetVersion(MxOps.DomainName) is null)
            model.Proto.OpsetImport.Add(new OperatorSetIdProto { Domain = MxOps.DomainName, Version = MxOps.DomainVersion });
        if (nbits && records.Count > 0 && model.OpsetVersion(MatMulNBitsEmitter.Domain) is null)
            model.Proto.OpsetImport.Add(new OperatorSetIdProto { Domain = MatMulNBitsEmitter.Domain, Version = 1 });

        string json = QuantizationMetadataWriter.ToJson(options, records, skipped, notes);
        QuantizationMetadataWriter.Set(model.Proto, QuantizationMetadata.ToolKey, QuantizationMetadataWriter.Tool);
        QuantizationMetadataWriter.Set(model.Proto, QuantizationMetadata.Key, json);
        model.Refresh();
        return new QuantizationResult { Options = options, Tensors = records, Skipped = skipped, Notes = notes, MetadataJson = json };
    }

    // K-major storage where it was asked for and the layout can hold the weight; otherwise a note says why not.
    private static bool UseKMajor(QuantizationOptions options, WeightCandidate c, LayoutGroup group, TensorSettings s, List<string> notes)
    {
        if (options.Storage != WeightStorage.KMajor || options.Emit != EmitForm.Packed) return false;
        string? why = group.Uses.FirstOrDefault(u => u.Op is not ("MatMul" or "Gemm")) is { } other
            ? $"it is also read by {other.Op} '{other.NodeName}'"
            : MxKMajorLayout.Supports(s.Format, s.BlockSize, out string? reason) ? null : reason;
        if (why != null) notes.Add($"stored row-major, not K-major: {why}");
        return why == null;
    }

    /// <summary>The plan's decision, and for MatMulNBits also a skip of weights that Gather or Conv read.</summary>
    private static PlanDecision Resolve(QuantizationPlan plan, WeightCandidate c, bool nbits)
    {
        var decision = plan.Resolve(c);
        return nbits && decision.Settings != null && MatMulNBitsEmitter.Unsupported(c) is { } why ? PlanDecision.Skip(why) : decision;
    }

    /// <summary>The MatMulNBits form's settings, checked before anything is edited.</summary>
    private static void CheckMatMulNBits(QuantizationPlan plan, int blockSize)
    {
        var o = plan.Options;
        if (o.ActFormat != null)
            throw new QuantizationException($"--emit matmulnbits quantizes activations by its accuracy_level, not an MX activation format (--act-format {o.ActFormat.Name}); leave --act-format out");
        if (plan.Overrides.Values.Any(v => v != null))
            throw new QuantizationException("--emit matmulnbits writes 4-bit integer blocks for every weight; per-tensor MX formats (a recipe) cannot apply to it");
        if (!MatMulNBitsPacker.IsValidBlockSize(blockSize))
            throw new QuantizationException($"--emit matmulnbits: block size {blockSize} must be a power of two of at least 16 (MatMulNBits' rule)");
        if (o.MatMulNBits.AccuracyLevel is < 0 or > 4)
            throw new QuantizationException($"--emit matmulnbits: accuracy_level {o.MatMulNBits.AccuracyLevel} must be 0 (unset), 1 (fp32), 2 (fp16), 3 (bf16) or 4 (int8)");
    }

    /// <summary>Checks a weight's settings against its layouts and the emit form before anything is edited.</summary>
    private static void Validate(WeightCandidate c, TensorSettings s, EmitForm emit)
    {
        if (emit == EmitForm.MatMulNBits) return;   // any K: the packer pads the last block
        if (emit == EmitForm.Qdq) QdqEmitter.CheckExpressible(s.Format, c.Name);
        foreach (var g in c.Groups)
        {
            try
            {
                _ = new MxPackedLayout(s.Format, g.Layout.BlockShape, g.Layout.Axis, s.BlockSize);
            }
            catch (ArgumentException ex)
            {
                throw new QuantizationException($"tensor '{c.Name}' ({c.Op} {g.Layout}): {ex.Message}", ex);
            }
            if (emit == EmitForm.Packed && s.Format.Kind == MxElementKind.SharedMicroExponent && s.BlockSize != 16 && g.Uses.Any(u => u.Op is "MatMul" or "Gemm"))
                throw new QuantizationException($"tensor '{c.Name}': MxMatMul reads {s.Format.Name} with blocks of 16 only, not {s.BlockSize}");
        }
    }

    private static QuantizedTensorRecord Record(WeightCandidate c, LayoutGroup group, TensorSettings s, EmittedTensor emitted, int index)
    {
        var notes = new List<string>(emitted.Notes);
        if (group.Layout.K < s.BlockSize)
            notes.Add($"reduction length {group.Layout.K} is shorter than a block of {s.BlockSize}: the block is padded");
        if (c.Groups.Count > 1)
            notes.Add($"the weight's uses need {c.Groups.Count} different layouts; this is layout {index + 1}, packed separately");
        return new QuantizedTensorRecord
        {
            Name = c.Name,
            Op = group.Uses[0].Op,
            Nodes = group.Uses.Select(u => u.NodeName).ToList(),
            Shape = c.Shape,
            Settings = s,
            BlockShape = group.Layout.BlockShape,
            Axis = group.Layout.Axis,
            Elements = emitted.Elements,
            Scales = emitted.Scales,
            Micro = emitted.Micro,
            Layout = emitted.Layout,
            Mask = emitted.Mask,
            ZeroPoints = emitted.ZeroPoints,
            BytesBefore = c.ElementCount * 4,
            BytesAfter = emitted.BytesAfter,
            Notes = notes,
        };
    }
}
