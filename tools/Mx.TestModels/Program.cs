namespace Mx.TestModels;

/// <summary>Entry point: <c>dotnet run --project tools/Mx.TestModels -c Release -- FOLDER</c> writes the test models into FOLDER.</summary>
public static class Program
{
    /// <summary>Writes the models; returns 0 on success, 1 on error, 2 on bad usage.</summary>
    public static int Main(string[] args)
    {
        if (args.Length != 1 || args[0].StartsWith('-'))
        {
            Console.Error.WriteLine("usage: Mx.TestModels FOLDER   (the repository's models live in testmodels/)");
            return 2;
        }
        try
        {
            TestModelGenerator.Generate(args[0]);
            foreach (string f in TestModelGenerator.Files)
                Console.WriteLine($"{new FileInfo(Path.Combine(args[0], f)).Length,10}  {f}");
            return 0;
        }
        catch (Exception ex)
        {
            Console.Error.WriteLine($"Mx.TestModels: {ex.Message}");
            return 1;
        }
    }
}
