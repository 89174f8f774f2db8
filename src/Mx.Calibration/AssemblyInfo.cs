// Mx.Calibration: statistics, format selection, outlier channel splitting. Depends on Mx.Onnx.
namespace Mx.Calibration;
