// Mx.Onnx: the ONNX model layer. Depends on Mx.Runtime only.
namespace Mx.Onnx;
