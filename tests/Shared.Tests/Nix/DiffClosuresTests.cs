using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Nix;

/// <summary>
/// <c>nix store diff-closures</c> as Nix 2.8 printed it on the test hosts: between NixOS stand-in
/// system generations (Fixtures/nix-2.8) and between generations of alice's profile where packages
/// were added, removed, changed and resized (Fixtures/generations, see its README).
/// </summary>
public class DiffClosuresTests
{
    private const long KiB = 1024;

    public static TheoryData<string, string, PackageChange[], long> Recorded() => new()
    {
        {
            "nix-2.8", "diff-closures.system-1-3.nixos.out.txt",
            [
                new("cowsay", [], ["2.1"], null),
                new("hello", ["1.0"], ["2.0"], null),
                new("linux", ["6.6.30"], ["6.6.32"], null),
                new("nixos-system-nixos1", ["24.05.1232.8ea141a"], ["24.05.1234.abcdef0"], null),
            ],
            0
        },
        {
            "nix-2.8", "diff-closures.system-3-1.nixos.out.txt",
            [
                new("cowsay", ["2.1"], [], null),
                new("hello", ["2.0"], ["1.0"], null),
                new("linux", ["6.6.32"], ["6.6.30"], null),
                new("nixos-system-nixos1", ["24.05.1234.abcdef0"], ["24.05.1232.8ea141a"], null),
            ],
            0
        },
        {
            "generations", "diff-closures.alice-3-4.single.txt",
            [
                new("cowsay", ["2.1"], [], null),
                new("figlet", ["2.2.5"], [], null),
                new("hello", ["1.0"], ["2.0"], null),
                new("jq", [], ["1.6"], null),
            ],
            0
        },
        {
            "generations", "diff-closures.alice-4-5.single.txt",
            [new("blob", [], ["1.0"], (long)Math.Round(64.4 * KiB))],
            (long)Math.Round(64.4 * KiB)
        },
        {
            "generations", "diff-closures.alice-5-6.single.txt",
            [new("blob", [], [], 136 * KiB), new("jq", ["1.6"], [], null)],
            136 * KiB
        },
        {
            "generations", "diff-closures.alice-6-7.single.txt",
            [new("blob", ["1.0"], ["2.0"], -180 * KiB), new("cowsay", [], ["2.2"], null)],
            -180 * KiB
        },
        {
            "generations", "diff-closures.alice-7-3.single.txt",
            [
                new("blob", ["2.0"], [], (long)Math.Round(-20.4 * KiB)),
                new("cowsay", ["2.2"], ["2.1"], null),
                new("figlet", [], ["2.2.5"], null),
                new("hello", ["2.0"], ["1.0"], null),
            ],
            (long)Math.Round(-20.4 * KiB)
        },
        { "generations", "diff-closures.alice-3-3.single.txt", [], 0 },
    };

    [Theory]
    [MemberData(nameof(Recorded))]
    public void Parse_RecordedOutput_GivesEveryChangeWithVersionsAndSize(
        string directory, string file, PackageChange[] expected, long sizeDelta)
    {
        var text = File.ReadAllText(TestContext.FixturePath(directory, file));

        var diff = DiffClosures.Parse(text);

        Assert.Equal(expected.Select(Flat), diff.Changes.Select(Flat));
        Assert.Equal(sizeDelta, diff.SizeDeltaBytes);
        Assert.DoesNotContain('\x1B', diff.Raw);
        Assert.Equal(text.Replace("\x1B[31;1m", "").Replace("\x1B[32;1m", "").Replace("\x1B[0m", ""), diff.Raw);
    }

    [Fact]
    public void Parse_RecordedSizeChange_CarriesNixsColourCodesWhichAreRemoved()
    {
        var text = File.ReadAllText(TestContext.FixturePath("generations", "diff-closures.alice-6-7.single.txt"));

        Assert.Contains("\x1B[32;1m-180.0 KiB\x1B[0m", text); // Nix 2.8 colours sizes even into a pipe
        Assert.Equal("blob: 1.0 → 2.0, -180.0 KiB\ncowsay: ∅ → 2.2\n", DiffClosures.Parse(text).Raw);
    }

    [Theory]
    [InlineData("hello: 1.0 → 2.0, +12.3 KiB", "hello", new[] { "1.0" }, new[] { "2.0" }, 12595L, PackageChangeKind.Changed)]
    [InlineData("foo: ∅ → 1.0", "foo", new string[0], new[] { "1.0" }, null, PackageChangeKind.Added)]
    [InlineData("bar: 2.0 → ∅", "bar", new[] { "2.0" }, new string[0], null, PackageChangeKind.Removed)]
    [InlineData("glibc: +8.0 KiB", "glibc", new string[0], new string[0], 8192L, PackageChangeKind.Changed)]
    [InlineData("python3: 3.11.9, 3.12.4 → 3.12.5, -1.5 MiB", "python3", new[] { "3.11.9", "3.12.4" }, new[] { "3.12.5" }, -1572864L, PackageChangeKind.Changed)]
    [InlineData("etc: ε → ∅, -20.0 KiB", "etc", new[] { "" }, new string[0], -20480L, PackageChangeKind.Removed)]
    [InlineData("firefox: 126.0 → 127.0, 12.3 KiB", "firefox", new[] { "126.0" }, new[] { "127.0" }, 12595L, PackageChangeKind.Changed)] // newer Nix: no "+"
    [InlineData("linux: 6.6.30 → 6.6.32, 2.1 GiB", "linux", new[] { "6.6.30" }, new[] { "6.6.32" }, 2254857830L, PackageChangeKind.Changed)]
    public void ParseLine_EachFormNixPrints(
        string line, string name, string[] from, string[] to, long? size, PackageChangeKind kind)
    {
        var change = DiffClosures.ParseLine(line)!;

        Assert.Equal((name, size, kind), (change.Name, change.SizeDeltaBytes, change.Kind));
        Assert.Equal(from, change.From);
        Assert.Equal(to, change.To);
    }

    [Theory]
    [InlineData("")]
    [InlineData("warning: you don't have Internet access; disabling some network-dependent features")]
    [InlineData("hello: something else")]
    [InlineData(": 1.0 → 2.0")]
    [InlineData("hello:")]
    public void ParseLine_NotAChange_IsNull(string line) =>
        Assert.Null(DiffClosures.ParseLine(line));

    [Fact]
    public void Parse_UnreadableLines_StayInRawOnly()
    {
        var diff = DiffClosures.Parse("hello: 1.0 → 2.0\nsomething odd\n");

        Assert.Single(diff.Changes);
        Assert.Equal("hello: 1.0 → 2.0\nsomething odd\n", diff.Raw);
    }

    private static string Flat(PackageChange c) =>
        $"{c.Name}: [{string.Join(",", c.From)}] -> [{string.Join(",", c.To)}] {c.SizeDeltaBytes} {c.Kind}";
}
