using Microsoft.ML.OnnxRuntime;
using Mx.Samples;

// The ops from the native custom-op library, as any ONNX Runtime host loads custom ops.
return SampleApp.Main(args, () =>
{
    string library = Environment.GetEnvironmentVariable("MX_OPS_LIBRARY")
        ?? throw new InvalidOperationException("set MX_OPS_LIBRARY to the last line of ./mx ops-library");
    var options = new SessionOptions();
    options.RegisterCustomOpLibrary(library);
    return options;
});
