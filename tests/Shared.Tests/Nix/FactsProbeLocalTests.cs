using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Nix;

/// <summary>The probe script run on this machine (Debian with nix-bin), checked against what the machine says itself.</summary>
public class FactsProbeLocalTests
{
    [Theory]
    [InlineData("/bin/dash", "-n")]
    [InlineData("/bin/bash", "--posix", "-n")]
    [InlineData("/bin/busybox", "sh", "-n")]
    public async Task Script_IsValidPosixShell(string shell, params string[] check)
    {
        if (!File.Exists(shell))
        {
            return; // Not installed here.
        }

        var result = await ProcessRunner.RunAsync([shell, .. check, "-c", FactsProbe.Script], TestContext.Timeout);

        Assert.True(result.Succeeded, result.StdErr);
    }

    [Fact]
    public async Task Script_RunHere_GivesTheFactsThisMachineReports()
    {
        var result = await ProcessRunner.RunAsync(["/bin/sh", "-c", FactsProbe.Script], TestContext.Timeout);
        var facts = FactsParser.Parse(result.StdOut);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal((await Run("uname", "-r")).Trim(), facts.KernelVersion);
        Assert.Equal(File.Exists("/etc/NIXOS"), facts.IsNixOS);
        Assert.NotNull(facts.DiskFreeBytes);
        if (Directory.Exists("/nix/store") && File.Exists("/usr/bin/nix-env"))
        {
            Assert.Equal((await Run("stat", "-c", "%U", "/nix/store")).Trim(), facts.StoreOwner);
            Assert.Equal(NixOutput.ParseVersion(await Run("/usr/bin/nix-env", "--version")), facts.NixVersion);
            Assert.NotEqual(NixInstallType.None, facts.InstallType);
            Assert.True(facts.StoreSizeBytes > 0);
        }
    }

    [Fact]
    public async Task Script_OnAHostWithoutNixStore_ReportsNoInstallAndStillSucceeds()
    {
        if (!Environment.IsPrivilegedProcess || !File.Exists("/usr/bin/unshare") || !Directory.Exists("/nix"))
        {
            return; // Hiding /nix needs a private mount namespace.
        }

        // A private mount namespace with an empty /nix: this machine as a host that has no Nix.
        var result = await ProcessRunner.RunAsync(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                "mkdir -p /nix && mount -t tmpfs nixfleet-test /nix && exec /bin/sh -c \"$0\"", FactsProbe.Script],
            TestContext.Timeout);
        var facts = FactsParser.Parse(result.StdOut);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(NixInstallType.None, facts.InstallType);
        Assert.Null(facts.StoreOwner);
        Assert.Null(facts.CurrentGeneration);
        Assert.Empty(facts.Channels);
        Assert.False(string.IsNullOrEmpty(facts.KernelVersion));
    }

    private static async Task<string> Run(params string[] argv) =>
        (await ProcessRunner.RunAsync(argv, TestContext.Timeout)).StdOut;
}
