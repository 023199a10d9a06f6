using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Nix;

public class ChannelCommandsTests
{
    private const string Url = "https://channels.nixos.org/nixos-24.11";

    private static readonly HostFacts SingleUser = Facts(NixInstallType.SingleUser, "alice", "/usr/bin");
    private static readonly HostFacts MultiUser = Facts(NixInstallType.MultiUser, "root", "/nix/var/nix/profiles/default/bin");

    public static TheoryData<string> HostileNames() => new()
    {
        "; rm -rf /",
        "$(reboot)",
        "`id`",
        "a b",
        "-rf",
        "--remove",
        "nixos\n--update",
        "nixos\r",
        "nixos\0",
        "",
        " ",
        ".",
        "..",
        "../x",
        "a/b",
        "_nixos",
        ".nixos",
        "nixos'",
        "nixos\"",
        "nix$os",
        "nixös",
        "ｎｉｘｏｓ",
        new string('a', 65),
    };

    public static TheoryData<string> HostileUrls() => new()
    {
        "; rm -rf /",
        "$(reboot)",
        "`id`",
        "a b",
        "-rf",
        "--update",
        "http://x/'y",
        "http://x/\"y",
        "http://x/`id`",
        "http://x/$(reboot)",
        "http://x/${HOME}",
        "http://x/a b",
        "http://x/a\tb",
        "http://x/nixos\n--update",
        "http://x/nixos\r",
        "http://x/nixos\0",
        "http://x/a\\b",
        "ftp://",
        "ftp://ftp.example.org/nixos",
        "ssh://host/nixos",
        "javascript:alert(1)",
        "http://",
        "http:///nixos",
        "http:/x/nixos",
        "https:x",
        "//channels.nixos.org/nixos-24.11",
        "channels.nixos.org/nixos-24.11",
        "/etc/passwd",
        "nixos-24.11",
        "http://user:secret@channels.example.org/nixos",
        "http://channels.example.org/nixos?x=1",
        "http://channels.example.org/nixos#x",
        "http://x/" + new string('a', 2000),
        "https://channels.nixos.org/nixos-24.11\u202E",
        "https://chаnnels.nixos.org/nixos-24.11",
        "https://例え.jp/nixos",
        "",
    };

    [Theory]
    [InlineData("nixos")]
    [InlineData("nixpkgs")]
    [InlineData("nixos-24.11")]
    [InlineData("nixos-hardware")]
    [InlineData("home-manager")]
    [InlineData("a")]
    [InlineData("0")]
    [InlineData("my_channel.v2")]
    public void IsChannelName_OrdinaryNames_AreAccepted(string name)
    {
        Assert.True(ChannelCommands.IsChannelName(name));
        Assert.Equal(["nix-channel", "--add", Url, name], ChannelCommands.Add(Url, name));
        Assert.Equal(["nix-channel", "--remove", name], ChannelCommands.Remove(name));
        Assert.Equal(["nix-channel", "--update", name], ChannelCommands.Update(name));
    }

    [Fact]
    public void IsChannelName_SixtyFourCharacters_IsTheLongestAccepted()
    {
        Assert.True(ChannelCommands.IsChannelName(new string('a', 64)));
        Assert.False(ChannelCommands.IsChannelName(new string('a', 65)));
        Assert.False(ChannelCommands.IsChannelName(null));
    }

    [Theory]
    [MemberData(nameof(HostileNames))]
    public void Commands_HostileChannelName_AreRefused(string name)
    {
        Assert.False(ChannelCommands.IsChannelName(name));
        Assert.Throws<ArgumentException>(() => ChannelCommands.Add(Url, name));
        Assert.Throws<ArgumentException>(() => ChannelCommands.Remove(name));
        Assert.Throws<ArgumentException>(() => ChannelCommands.Update(name));
    }

    [Theory]
    [InlineData("https://channels.nixos.org/nixos-24.11")]
    [InlineData("https://channels.nixos.org/nixos-24.11-small")]
    [InlineData("https://nixos.org/channels/nixpkgs-unstable")]
    [InlineData("http://127.0.0.1:8080/nixos-24.11")]
    [InlineData("http://[::1]:8080/nixos-24.11")]
    [InlineData("https://github.com/NixOS/nixos-hardware/archive/master.tar.gz")]
    [InlineData("HTTPS://Channels.NixOS.org/nixos-24.11")]
    [InlineData("https://releases.nixos.org/nixos/24.11/nixos-24.11.710315.b681065d0919/")]
    public void UrlError_HttpAndHttpsChannelUrls_AreAccepted(string url)
    {
        Assert.Null(ChannelCommands.UrlError(url, allowFile: false));
        Assert.Null(ChannelCommands.UrlError(url, allowFile: true));
        Assert.Equal(["nix-channel", "--add", url, "nixos"], ChannelCommands.Add(url, "nixos"));
    }

    [Theory]
    [MemberData(nameof(HostileUrls))]
    public void UrlError_HostileUrls_AreRefusedInWords(string url)
    {
        foreach (var allowFile in (bool[])[false, true])
        {
            var error = ChannelCommands.UrlError(url, allowFile);
            Assert.NotNull(error);
            Assert.EndsWith(".", error);
            Assert.DoesNotContain("Exception", error, StringComparison.Ordinal);
        }

        Assert.Throws<ArgumentException>(() => ChannelCommands.Add(url, "nixos"));
    }

    [Fact]
    public void UrlError_Null_IsRefused() => Assert.Equal("The channel URL is empty.", ChannelCommands.UrlError(null, allowFile: true));

    [Fact]
    public void UrlError_VeryLong_SaysHowLongItMayBe()
    {
        var url = "https://channels.example.org/" + new string('a', 3000);

        Assert.Equal("The channel URL is longer than 2000 characters.", ChannelCommands.UrlError(url, allowFile: false));
        Assert.Null(ChannelCommands.UrlError(url[..ChannelCommands.MaxUrlLength], allowFile: false));
    }

    [Theory]
    [InlineData("file:///x")]
    [InlineData("file:///etc/nixfleet-test/channels/nixos.tar.xz")]
    public void UrlError_FileUrl_OnlyWhenAllowed(string url)
    {
        Assert.Equal(
            "file:// channel URLs are not allowed here: use an http:// or https:// URL.",
            ChannelCommands.UrlError(url, allowFile: false));
        Assert.Null(ChannelCommands.UrlError(url, allowFile: true));
        // Add validates what is safe to pass; whether file:// is allowed is the caller's policy.
        Assert.Equal(["nix-channel", "--add", url, "nixos"], ChannelCommands.Add(url, "nixos"));
    }

    [Theory]
    [InlineData("file://")]
    [InlineData("file:///")]
    [InlineData("file://host/x")]
    [InlineData("file:////x")]
    [InlineData("file:x")]
    [InlineData("file:/x")]
    [InlineData("file:///x/../etc")]
    [InlineData("file:///x?y")]
    [InlineData("file:///x#y")]
    [InlineData("file:///a b")]
    [InlineData("file:///x'")]
    public void UrlError_FileUrlThatIsNotAnAbsolutePath_IsRefusedEvenWhenAllowed(string url) =>
        Assert.NotNull(ChannelCommands.UrlError(url, allowFile: true));

    [Fact]
    public void UrlError_FtpScheme_NamesTheScheme() =>
        Assert.Equal(
            "The channel URL's scheme 'ftp' is not http or https.",
            ChannelCommands.UrlError("ftp://ftp.example.org/nixos", allowFile: false));

    [Fact]
    public void ListUpdateRollback_AreTheNixChannelOperations()
    {
        Assert.Equal(["nix-channel", "--list"], ChannelCommands.List());
        Assert.Equal(["nix-channel", "--update"], ChannelCommands.Update(null));
        Assert.Equal(["nix-channel", "--rollback"], ChannelCommands.Rollback(null));
        Assert.Equal(["nix-channel", "--rollback", "3"], ChannelCommands.Rollback(3));
    }

    [Fact]
    public void Update_BypassingTheCache_SetsTarballTtlToZero()
    {
        Assert.Equal(["nix-channel", "--option", "tarball-ttl", "0", "--update", "nixos"], ChannelCommands.Update("nixos", bypassCache: true));
        Assert.Equal(["nix-channel", "--option", "tarball-ttl", "0", "--update"], ChannelCommands.Update(null, bypassCache: true));
        Assert.Equal(["nix-channel", "--update", "nixos"], ChannelCommands.Update("nixos", bypassCache: false));
        Assert.Throws<ArgumentException>(() => ChannelCommands.Update("-rf", bypassCache: true));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    public void Rollback_NotAGenerationNumber_IsRefused(int generation) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => ChannelCommands.Rollback(generation));

    [Fact]
    public void AsUser_TheSshUserItself_RunsTheScriptDirectly() =>
        Assert.Equal(["sh", "-c", ChannelsProbe.Script], ChannelCommands.AsUser("alice", "alice", ChannelsProbe.Script));

    [Fact]
    public void AsUser_AnotherUser_RunsTheScriptThroughRunuser() =>
        Assert.Equal(
            ["runuser", "-u", "alice", "--", "sh", "-c", ChannelCommands.BackupScript],
            ChannelCommands.AsUser("root", "alice", ChannelCommands.BackupScript));

    [Theory]
    [InlineData("")]
    [InlineData("-u")]
    [InlineData("--")]
    [InlineData("al ice")]
    [InlineData("alice;id")]
    [InlineData("$(reboot)")]
    [InlineData("alice\nroot")]
    [InlineData("0alice")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    public void AsUserAndForUser_NotAUserName_AreRefused(string user)
    {
        Assert.Throws<ArgumentException>(() => ChannelCommands.AsUser("root", user, ChannelsProbe.Script));
        Assert.Throws<ArgumentException>(() => ChannelCommands.ForUser(MultiUser, "root", user, ChannelCommands.List()));
    }

    [Fact]
    public void ForUser_SingleUserStoreOwnerFromRoot_RunsAsTheOwner() =>
        Assert.Equal(
            ["runuser", "-u", "alice", "--", "/usr/bin/nix-channel", "--update", "nixpkgs"],
            ChannelCommands.ForUser(SingleUser, "root", "alice", ChannelCommands.Update("nixpkgs")));

    [Fact]
    public void ForUser_SingleUserStoreOwnerLoggedIn_RunsDirectly() =>
        Assert.Equal(
            ["/usr/bin/nix-channel", "--list"],
            ChannelCommands.ForUser(SingleUser, "alice", "alice", ChannelCommands.List()));

    [Fact]
    public void ForUser_RootOnASingleUserStore_IsRefused()
    {
        // Root must never write into a store a user owns.
        var error = Assert.Throws<ArgumentException>(() => ChannelCommands.ForUser(SingleUser, "root", "root", ChannelCommands.List()));
        Assert.Contains("alice", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ForUser_RootOnAMultiUserHost_RunsAsRootWithTheHostsNix() =>
        Assert.Equal(
            ["/nix/var/nix/profiles/default/bin/nix-channel", "--add", Url, "nixos"],
            ChannelCommands.ForUser(MultiUser, "root", "root", ChannelCommands.Add(Url, "nixos")));

    [Fact]
    public void ForUser_AnotherUserOnAMultiUserHost_RunsAsThatUser() =>
        Assert.Equal(
            ["runuser", "-u", "alice", "--", "/nix/var/nix/profiles/default/bin/nix-channel", "--rollback", "2"],
            ChannelCommands.ForUser(MultiUser, "root", "alice", ChannelCommands.Rollback(2)));

    [Fact]
    public void ForUser_NotANixChannelCommand_IsRefused()
    {
        Assert.Throws<ArgumentException>(() => ChannelCommands.ForUser(MultiUser, "root", "root", ["nix-env", "-u"]));
        Assert.Throws<ArgumentException>(() => ChannelCommands.ForUser(MultiUser, "root", "root", []));
    }

    [Fact]
    public void ForUser_NoNix_IsRefused() =>
        Assert.Throws<InvalidOperationException>(() =>
            ChannelCommands.ForUser(Facts(NixInstallType.None, null, null), "root", "root", ChannelCommands.List()));

    [Fact]
    public void Scripts_AreConstantShellWithNoInputAndTheMarkersInHome()
    {
        foreach (var script in (string[])[ChannelCommands.BackupScript, ChannelCommands.RestoreScript, ChannelCommands.DropBackupScript])
        {
            Assert.Contains("$HOME/.nix-channels", script, StringComparison.Ordinal);
            Assert.DoesNotContain("$1", script, StringComparison.Ordinal);
            Assert.DoesNotContain("eval", script, StringComparison.Ordinal);
        }

        Assert.Contains(".nixfleet-backup", ChannelCommands.BackupScript, StringComparison.Ordinal);
        Assert.Contains(".nixfleet-absent", ChannelCommands.BackupScript, StringComparison.Ordinal);
    }

    private static HostFacts Facts(string installType, string? owner, string? bin) =>
        new("Debian GNU/Linux", "12", false, "2.8.0", installType, owner, [], null, null, null, null, null, null, bin);
}

/// <summary>
/// The backup and restore scripts run locally with sh in a throwaway HOME, as they run on a host as
/// the channel's user: the file comes back byte for byte with its mode and times, or goes away if
/// there was none, and every script can run twice.
/// </summary>
public sealed class ChannelBackupScriptTests : IDisposable
{
    private readonly string _home = Directory.CreateTempSubdirectory("nf-chan-home-").FullName;

    private string File_ => Path.Combine(_home, ".nix-channels");

    public void Dispose() => Directory.Delete(_home, recursive: true);

    [Fact]
    public async Task BackupThenRestore_AfterTheFileChanged_PutsItBackExactly()
    {
        await File.WriteAllTextAsync(File_, "https://channels.nixos.org/nixos-24.05 nixos\n");
        File.SetUnixFileMode(File_, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        File.SetLastWriteTimeUtc(File_, new DateTime(2024, 6, 1, 12, 0, 0, DateTimeKind.Utc));
        var before = Snapshot();

        Assert.Equal("backup created", await Run(ChannelCommands.BackupScript));
        await File.WriteAllTextAsync(File_, "http://127.0.0.1:1/missing nixos\n");
        Assert.Equal("restored", await Run(ChannelCommands.RestoreScript));

        Assert.Equal(before, Snapshot());
        Assert.Equal([".nix-channels"], Directory.GetFileSystemEntries(_home).Select(Path.GetFileName));
    }

    [Fact]
    public async Task Backup_Twice_KeepsTheFirstBackup()
    {
        await File.WriteAllTextAsync(File_, "https://channels.nixos.org/nixos-24.05 nixos\n");
        var before = Snapshot();

        Assert.Equal("backup created", await Run(ChannelCommands.BackupScript));
        await File.WriteAllTextAsync(File_, "https://channels.nixos.org/nixos-24.11 nixos\n");
        Assert.Equal("backup kept", await Run(ChannelCommands.BackupScript));
        Assert.Equal("restored", await Run(ChannelCommands.RestoreScript));

        Assert.Equal(before, Snapshot());
    }

    [Fact]
    public async Task BackupThenRestore_WithoutAFile_RemovesTheFileAddMade()
    {
        Assert.Equal("backup absent", await Run(ChannelCommands.BackupScript));
        await File.WriteAllTextAsync(File_, "http://127.0.0.1:1/missing nixos\n");
        Assert.Equal("backup kept", await Run(ChannelCommands.BackupScript));
        Assert.Equal("restored absent", await Run(ChannelCommands.RestoreScript));

        Assert.Empty(Directory.GetFileSystemEntries(_home));
    }

    [Fact]
    public async Task Restore_Twice_ChangesNothingTheSecondTime()
    {
        await File.WriteAllTextAsync(File_, "https://channels.nixos.org/nixos-24.05 nixos\n");
        await Run(ChannelCommands.BackupScript);
        await File.WriteAllTextAsync(File_, "changed\n");
        await Run(ChannelCommands.RestoreScript);
        var restored = Snapshot();

        Assert.Equal("nothing to restore", await Run(ChannelCommands.RestoreScript));
        Assert.Equal(restored, Snapshot());
    }

    [Fact]
    public async Task DropBackup_AfterSuccess_KeepsTheNewFileAndRemovesTheMarkers()
    {
        await File.WriteAllTextAsync(File_, "https://channels.nixos.org/nixos-24.05 nixos\n");
        await Run(ChannelCommands.BackupScript);
        await File.WriteAllTextAsync(File_, "https://channels.nixos.org/nixos-24.11 nixos\n");
        var after = Snapshot();

        Assert.Equal("backup dropped", await Run(ChannelCommands.DropBackupScript));
        Assert.Equal("backup dropped", await Run(ChannelCommands.DropBackupScript));

        Assert.Equal(after, Snapshot());
        Assert.Equal([".nix-channels"], Directory.GetFileSystemEntries(_home).Select(Path.GetFileName));
        Assert.Equal("nothing to restore", await Run(ChannelCommands.RestoreScript));
    }

    [Fact]
    public async Task BackupThenRestore_ASymlinkedFile_StaysASymlink()
    {
        // home-manager makes ~/.nix-channels a link into the store.
        var target = Path.Combine(_home, "managed-channels");
        await File.WriteAllTextAsync(target, "https://channels.nixos.org/nixos-24.05 nixos\n");
        File.CreateSymbolicLink(File_, target);

        await Run(ChannelCommands.BackupScript);
        File.Delete(File_);
        await File.WriteAllTextAsync(File_, "changed\n");
        await Run(ChannelCommands.RestoreScript);

        Assert.Equal(target, new FileInfo(File_).LinkTarget);
    }

    [Fact]
    public async Task Scripts_WithoutAHome_FailInWords()
    {
        foreach (var script in (string[])[ChannelCommands.BackupScript, ChannelCommands.RestoreScript, ChannelCommands.DropBackupScript])
        {
            var result = await ProcessRunner.RunAsync(["sh", "-c", script],
                new ProcessOptions { Environment = new Dictionary<string, string?> { ["HOME"] = Path.Combine(_home, "gone") } },
                TestContext.Timeout);

            Assert.Equal(1, result.ExitCode);
            Assert.StartsWith("no home directory for ", result.StdErr, StringComparison.Ordinal);
        }
    }

    private async Task<string> Run(string script)
    {
        var result = await ProcessRunner.RunAsync(["sh", "-c", script],
            new ProcessOptions { Environment = new Dictionary<string, string?> { ["HOME"] = _home } }, TestContext.Timeout);
        Assert.True(result.Succeeded, result.StdErr);
        return result.StdOut.Trim();
    }

    private (string Content, UnixFileMode Mode, DateTime Modified) Snapshot() =>
        (File.ReadAllText(File_), File.GetUnixFileMode(File_), File.GetLastWriteTimeUtc(File_));
}
