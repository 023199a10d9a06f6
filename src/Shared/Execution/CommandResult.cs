namespace NixFleet.Shared.Execution;

/// <summary>The outcome of a finished command: exit code and its complete output.</summary>
public sealed record CommandResult(int ExitCode, string StdOut, string StdErr)
{
    public bool Succeeded => ExitCode == 0;
}

public enum OutputStream
{
    StdOut,
    StdErr,
}

/// <summary>One line of output as it arrived, without its line terminator.</summary>
public sealed record OutputLine(OutputStream Stream, string Text);
