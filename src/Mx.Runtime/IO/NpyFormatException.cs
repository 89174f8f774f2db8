namespace Mx.Runtime.IO;

/// <summary>A .npy or .npz file that cannot be read (or a tensor that cannot be written); the message names the file, the member for .npz, and the problem.</summary>
public sealed class NpyFormatException(string message, Exception? inner = null) : Exception(message, inner);
