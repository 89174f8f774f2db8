namespace Mx.TestModels;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine("Mx.TestModels: not yet written");
        return 2;
    }
}
