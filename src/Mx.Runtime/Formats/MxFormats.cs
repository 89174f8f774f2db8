namespace Mx.Runtime.Formats;

/// <summary>
/// The table of every MX format the project supports (OCP MX v1.0, MXINT4 as in microxcaling, and the
/// shared-microexponent MX9/MX6/MX4). Constants follow the OCP spec and <c>../shared/reference/mx-formats.md</c>.
/// </summary>
public static class MxFormats
{
    //                                         name          id  kind                                 bits eb mb bias emax max      block ocp
    public static readonly MxFormat Mxfp8E4M3 = new("mxfp8_e4m3", 1, MxElementKind.Float,               8, 4, 3, 7, 8, 448.0, 32, true);
    public static readonly MxFormat Mxfp8E5M2 = new("mxfp8_e5m2", 2, MxElementKind.Float,               8, 5, 2, 15, 15, 57344.0, 32, true);
    public static readonly MxFormat Mxfp6E3M2 = new("mxfp6_e3m2", 3, MxElementKind.Float,               6, 3, 2, 3, 4, 28.0, 32, true);
    public static readonly MxFormat Mxfp6E2M3 = new("mxfp6_e2m3", 4, MxElementKind.Float,               6, 2, 3, 1, 2, 7.5, 32, true);
    public static readonly MxFormat Mxfp4E2M1 = new("mxfp4_e2m1", 5, MxElementKind.Float,               4, 2, 1, 1, 2, 6.0, 32, true);
    public static readonly MxFormat Mxint8 = new("mxint8", 6, MxElementKind.Int,                        8, 0, 6, 0, 0, 127.0 / 64, 32, true);
    public static readonly MxFormat Mxint4 = new("mxint4", 7, MxElementKind.Int,                        4, 0, 2, 0, 0, 7.0 / 4, 32, false);
    public static readonly MxFormat Mx9 = new("mx9", 8, MxElementKind.SharedMicroExponent,              8, 0, 7, 0, 0, 127.0 / 64, 16, false);
    public static readonly MxFormat Mx6 = new("mx6", 9, MxElementKind.SharedMicroExponent,              5, 0, 4, 0, 0, 15.0 / 8, 16, false);
    public static readonly MxFormat Mx4 = new("mx4", 10, MxElementKind.SharedMicroExponent,             3, 0, 2, 0, 0, 3.0 / 2, 16, false);

    /// <summary>Every format, in <see cref="MxFormat.Id"/> order.</summary>
    public static IReadOnlyList<MxFormat> All { get; } =
        [Mxfp8E4M3, Mxfp8E5M2, Mxfp6E3M2, Mxfp6E2M3, Mxfp4E2M1, Mxint8, Mxint4, Mx9, Mx6, Mx4];

    /// <summary>The six formats of the OCP MX v1.0 specification.</summary>
    public static IReadOnlyList<MxFormat> Ocp { get; } = All.Where(f => f.IsOcp).ToArray();

    /// <summary>Finds a format by name (case-insensitive; <c>mxfp4</c>, <c>mxfp8</c> and <c>mxfp6</c> are accepted for E2M1, E4M3 and E2M3).</summary>
    /// <exception cref="ArgumentException">Unknown name; the message lists the known names.</exception>
    public static MxFormat Parse(string name) =>
        TryParse(name, out var f) ? f : throw new ArgumentException($"unknown MX format '{name}'; known formats: {string.Join(", ", All.Select(x => x.Name))}");

    /// <summary>Finds a format by name; false when unknown.</summary>
    public static bool TryParse(string? name, out MxFormat format)
    {
        string n = (name ?? "").Trim().ToLowerInvariant() switch
        {
            "mxfp4" => "mxfp4_e2m1",
            "mxfp8" => "mxfp8_e4m3",
            "mxfp6" => "mxfp6_e2m3",
            var s => s,
        };
        format = All.FirstOrDefault(f => f.Name == n)!;
        return format is not null;
    }

    /// <summary>Finds a format by its <see cref="MxFormat.Id"/>.</summary>
    public static MxFormat FromId(int id) =>
        All.FirstOrDefault(f => f.Id == id) ?? throw new ArgumentException($"unknown MX format id {id}");
}
