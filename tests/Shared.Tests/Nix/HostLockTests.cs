using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Nix;

/// <summary>The host lock's parser on its real output (Fixtures/activation/lock.*.txt), its argv and input checks.</summary>
public class HostLockTests
{
    private static readonly DateTimeOffset Taken = DateTimeOffset.FromUnixTimeSeconds(1795444231);

    [Theory]
    [InlineData("lock.take.txt", HostLockState.Taken, "op-1", true)]
    [InlineData("lock.take-again-same.txt", HostLockState.AlreadyHeld, "op-1", true)]
    [InlineData("lock.take-busy.txt", HostLockState.Busy, "op-1", true)]
    [InlineData("lock.release-wrong-owner.txt", HostLockState.Busy, "op-1", true)]
    [InlineData("lock.release.txt", HostLockState.Released, "op-1", false)]
    [InlineData("lock.release-not-held.txt", HostLockState.NotHeld, null, false)]
    public void Parse_RecordedOutput_GivesStateOwnerAndSince(string file, HostLockState state, string? owner, bool hasSince)
    {
        var result = HostLock.Parse(File.ReadAllText(TestContext.FixturePath("activation", file)));

        Assert.Equal(new HostLockResult(state, owner, hasSince ? Taken : null), result);
    }

    [Theory]
    [InlineData("")]
    [InlineData("nixfleet-lock: cannot create /nix/var/nix/nixfleet.lock\n")]
    [InlineData("@@lock\n|state confused\n")]
    public void Parse_NoState_IsError(string output) =>
        Assert.Equal(HostLockState.Error, HostLock.Parse(output).State);

    [Fact]
    public void Parse_HolderStillWritingItsName_IsBusyWithAnEmptyOwner() =>
        Assert.Equal(new HostLockResult(HostLockState.Busy, "", null), HostLock.Parse("@@lock\n|state busy\n|owner \n|since \n"));

    [Fact]
    public void Commands_AreTheScriptsWithTheOperationId()
    {
        Assert.Equal(["sh", "-c", HostLock.TakeScript, "nixfleet-lock", "op-42"], HostLock.TakeCommand("op-42"));
        Assert.Equal(["sh", "-c", HostLock.ReleaseScript, "nixfleet-lock", "3f2a9c1e-0b7d-4e55-9a1f-2c3d4e5f6a7b"],
            HostLock.ReleaseCommand("3f2a9c1e-0b7d-4e55-9a1f-2c3d4e5f6a7b"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("op 1")]
    [InlineData("op/1")]
    [InlineData("op-1\n")]
    [InlineData("$(reboot)")]
    public void Commands_BadOperationId_AreRefused(string id)
    {
        Assert.Throws<ArgumentException>(() => HostLock.TakeCommand(id));
        Assert.Throws<ArgumentException>(() => HostLock.ReleaseCommand(id));
    }

    [Theory]
    [InlineData]
    [InlineData("op/1")]
    [InlineData("$(touch /tmp/nixfleet-pwned)")]
    public async Task Scripts_BadOperationId_ExitTwoBeforeTouchingAnything(params string[] arguments)
    {
        foreach (var script in (string[])[HostLock.TakeScript, HostLock.ReleaseScript])
        {
            var result = await ProcessRunner.RunAsync(["/bin/sh", "-c", script, "nixfleet-lock", .. arguments], TestContext.Timeout);

            Assert.Equal((2, ""), (result.ExitCode, result.StdOut));
        }

        Assert.False(File.Exists("/tmp/nixfleet-pwned"));
    }
}
