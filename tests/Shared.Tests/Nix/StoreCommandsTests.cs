using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Nix;

public class StoreCommandsTests
{
    private const string Hello = "/nix/store/cm30d6x2r2kxm4f3zy97di9c52crj052-hello-1.0";
    private const string Env = "/nix/store/qj8lcyf6x1xpjk62j1iz13ljmx1v4qjw-user-environment";
    private const string SystemLink = "/nix/var/nix/profiles/system-3-link";
    private const string AliceLink = "/home/alice/.local/state/nix/profiles/profile-12-link";

    [Fact]
    public void FixedCommands_AreTheirArgumentLists()
    {
        Assert.Equal(["nix-store", "--gc"], StoreCommands.CollectGarbage());
        Assert.Equal(["nix-store", "--gc", "--print-dead"], StoreCommands.PrintDead());
        Assert.Equal(["nix-store", "--gc", "--print-roots"], StoreCommands.PrintRoots());
        Assert.Equal(["nix-store", "--optimise"], StoreCommands.Optimise());
        Assert.Equal(["timeout", "300", "du", "-sb", "/nix/store"], StoreCommands.StoreSize());
        Assert.Equal(["df", "-B1", "--output=size,avail", "/nix"], StoreCommands.DiskSpace());
    }

    [Theory]
    [InlineData(false, false, new[] { "nix-store", "--verify" })]
    [InlineData(true, false, new[] { "nix-store", "--verify", "--check-contents" })]
    [InlineData(false, true, new[] { "nix-store", "--verify", "--repair" })]
    [InlineData(true, true, new[] { "nix-store", "--verify", "--check-contents", "--repair" })]
    public void Verify_FlagsOnlyWhenAsked(bool checkContents, bool repair, string[] argv) =>
        Assert.Equal(argv, StoreCommands.Verify(checkContents, repair));

    [Fact]
    public void Requisites_StorePathsAndGenerationLinks_EachOneArgumentInOrder() =>
        Assert.Equal(
            ["nix-store", "--query", "--requisites", SystemLink, Hello, AliceLink],
            StoreCommands.Requisites([SystemLink, Hello, AliceLink]));

    [Fact]
    public void Sizes_StorePaths_EachOneArgumentInOrder() =>
        Assert.Equal(["nix-store", "--query", "--size", Env, Hello], StoreCommands.Sizes([Env, Hello]));

    [Fact]
    public void VerifyPath_StorePath_IsOneArgument() =>
        Assert.Equal(["nix-store", "--verify-path", Hello], StoreCommands.VerifyPath(Hello));

    public static TheoryData<string> Hostile() => new()
    {
        "; rm -rf /",
        "$(reboot)",
        "`reboot`",
        "/nix/store/../etc",
        "/nix/store/../etc/shadow-link",
        "/nix/var/nix/profiles/../../../etc/passwd-link",
        "/nix/var/nix/profiles/./system-1-link",
        "/nix/var/nix/profiles/system-1-link/..",
        Hello + "; reboot",
        Hello + " " + Env,
        Hello + "\n" + "reboot",
        "/nix/var/nix/profiles/system-1-link\nreboot-link",
        "/nix/var/nix/profiles/system-1-link\n",
        Hello + "\0",
        "/nix/var/nix/profiles/system\0-1-link",
        "nix/store/cm30d6x2r2kxm4f3zy97di9c52crj052-hello-1.0",
        "profiles/system-1-link",
        "./system-1-link",
        "~/profile-1-link",
        "--delete",
        "-link",
        "--option-link",
        "",
        " ",
        "/nix/store",
        "/nix/store/",
        "/nix/store/cm30d6x2r2kxm4f3zy97di9c52crj05-hello", // 31-character hash
        "/nix/store/CM30D6X2R2KXM4F3ZY97DI9C52CRJ052-hello",
        Hello + "/bin/hello",
        "/etc/passwd",
    };

    [Theory]
    [MemberData(nameof(Hostile))]
    public void EveryPathCommand_HostileOrNonStorePath_IsRefused(string path)
    {
        Assert.Throws<ArgumentException>(() => StoreCommands.Requisites([path]));
        Assert.Throws<ArgumentException>(() => StoreCommands.Sizes([path]));
        Assert.Throws<ArgumentException>(() => StoreCommands.VerifyPath(path));
    }

    [Theory]
    [MemberData(nameof(Hostile))]
    public void Requisites_OneHostilePathAmongGoodOnes_RefusesTheWholeCommand(string path) =>
        Assert.Throws<ArgumentException>(() => StoreCommands.Requisites([Hello, SystemLink, path]));

    [Theory]
    [InlineData(SystemLink)]
    [InlineData(AliceLink)]
    public void SizesAndVerifyPath_GenerationLink_IsRefused(string link)
    {
        Assert.Throws<ArgumentException>(() => StoreCommands.Sizes([link]));
        Assert.Throws<ArgumentException>(() => StoreCommands.VerifyPath(link));
    }

    [Fact]
    public void Requisites_LinkWithShellCharacters_StaysOneInertWordForTheShell()
    {
        // An absolute link may hold any character but newline and NUL: the argv is quoted, never
        // interpolated, so "$(reboot)" reaches nix-store as text.
        const string odd = "/home/al ice/$(reboot);'x'/profile-1-link";

        var argv = StoreCommands.Requisites([odd]);

        Assert.Equal(["nix-store", "--query", "--requisites", odd], argv);
        Assert.Equal(@"nix-store --query --requisites '/home/al ice/$(reboot);'\''x'\''/profile-1-link'", ShellQuote.Join(argv));
    }

    [Fact]
    public void PathCommands_NoPathOrMoreThanTheLimit_AreRefused()
    {
        var limit = Enumerable.Range(0, StoreCommands.PathsPerCommand).Select(n => $"/nix/store/{n:D32}-p").ToArray();
        var tooMany = limit.Append(Hello).ToArray();

        Assert.Equal(500, StoreCommands.PathsPerCommand);
        Assert.Equal(3 + 500, StoreCommands.Sizes(limit).Count);
        Assert.Equal(3 + 500, StoreCommands.Requisites(limit).Count);
        Assert.Throws<ArgumentException>(() => StoreCommands.Sizes(tooMany));
        Assert.Throws<ArgumentException>(() => StoreCommands.Requisites(tooMany));
        Assert.Throws<ArgumentException>(() => StoreCommands.Sizes([]));
        Assert.Throws<ArgumentException>(() => StoreCommands.Requisites([]));
        Assert.Throws<ArgumentNullException>(() => StoreCommands.Sizes(null!));
    }
}
