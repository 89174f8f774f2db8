using Microsoft.ML.OnnxRuntime;
using Mx.Runtime.Ops;
using Mx.Samples;

// The ops registered from Mx.Runtime: one call on the session options.
return SampleApp.Main(args, () => new SessionOptions().RegisterMxOps());
