using NixFleet.Shared.Execution;

namespace NixFleet.Shared.Tests.Execution;

public class ShellQuoteTests
{
    private static readonly string Marker = "/tmp/pwn-" + Guid.NewGuid().ToString("N");

    private static readonly string[] Hostile =
    [
        "; touch " + Marker,
        "$(touch " + Marker + ")",
        "`touch " + Marker + "`",
        "' ; touch " + Marker + " ; '",
        "\" ; touch " + Marker + " ; \"",
        "it's",
        "'",
        "''",
        "\"double\"",
        "a\nb; touch " + Marker,
        "line\r\nbreak",
        "*",
        "/etc/*",
        "~",
        "~root",
        "-n",
        "-e",
        "--help",
        "-",
        "ünïcödé ✓ 日本",
        "",
        " ",
        "\t",
        "$HOME",
        "${HOME}",
        "a|b&c>d<e",
        "!",
        "#comment",
        "back\\slash",
        "FOO=bar",
        "=ls",
        "%s",
        "{a,b}",
        "[abc]",
        "plain-word_1.2/3:4@5%6+7,8",
    ];

    public static TheoryData<string> HostileArguments() => new(Hostile);

    [Theory]
    [InlineData("simple", "simple")]
    [InlineData("/nix/store/abc-hello-2.12/bin/hello", "/nix/store/abc-hello-2.12/bin/hello")]
    [InlineData("--delete-generations", "--delete-generations")]
    [InlineData("user@host:22", "user@host:22")]
    [InlineData("a+b,c%d", "a+b,c%d")]
    public void Quote_SafeWord_StaysUnquoted(string arg, string expected) =>
        Assert.Equal(expected, ShellQuote.Quote(arg));

    [Theory]
    [InlineData("", "''")]
    [InlineData("a b", "'a b'")]
    [InlineData("it's", "'it'\\''s'")]
    [InlineData("$(x)", "'$(x)'")]
    [InlineData("~", "'~'")]
    [InlineData("*", "'*'")]
    [InlineData("FOO=bar", "'FOO=bar'")]
    [InlineData("=ls", "'=ls'")]
    [InlineData("--opt=value", "--opt=value")]
    [InlineData("ünï", "'ünï'")]
    public void Quote_SpecialCharacters_AreSingleQuoted(string arg, string expected) =>
        Assert.Equal(expected, ShellQuote.Quote(arg));

    [Fact]
    public void Quote_NulCharacter_IsRejected() =>
        Assert.Throws<ArgumentException>(() => ShellQuote.Quote("a\0b"));

    [Fact]
    public void Join_QuotesEachElementAndSeparatesWithSpaces() =>
        Assert.Equal("nix-env --switch-generation 42 'a b' ''", ShellQuote.Join(["nix-env", "--switch-generation", "42", "a b", ""]));

    [Fact]
    public void Join_NulInAnyElement_IsRejected() =>
        Assert.Throws<ArgumentException>(() => ShellQuote.Join(["ok", "bad\0"]));

    [Theory]
    [InlineData("/bin/sh")]
    [InlineData("/bin/bash")]
    [InlineData("/bin/dash")]
    [InlineData("/usr/bin/zsh")]
    public async Task Join_HostileArguments_ReachTheProgramUnchangedThroughARealShell(string shell)
    {
        if (!File.Exists(shell))
        {
            return; // That shell is not installed here; the others cover the quoting.
        }

        var argv = Hostile.ToList();

        var result = await ProcessRunner.RunAsync(
            [shell, "-c", "printf '%s\\0' " + ShellQuote.Join(argv)],
            TestContext.Timeout);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(argv, result.StdOut.Split('\0')[..^1]);
        Assert.False(File.Exists(Marker), $"{Marker} was created: the shell executed part of an argument.");
    }

    [Theory]
    [MemberData(nameof(HostileArguments))]
    public async Task Quote_EachHostileArgument_IsOneWordForTheShell(string arg)
    {
        var result = await ProcessRunner.RunAsync(
            ["/bin/sh", "-c", "printf '%s\\0' " + ShellQuote.Quote(arg)],
            TestContext.Timeout);

        // One NUL-terminated string: the shell saw exactly one word, and saw it unchanged.
        Assert.Equal(arg + "\0", result.StdOut);
        Assert.False(File.Exists(Marker));
    }
}
