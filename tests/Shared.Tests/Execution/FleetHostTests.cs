using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Execution;

/// <summary>
/// End to end on a real single-user test host from tests/fleet: pin its key, refresh its facts
/// through SshConnection, and run Nix the way NixLocator says (as the store's owner).
/// Needs root and tests/fleet/fleet.sh; otherwise it does nothing.
/// </summary>
public sealed class FleetHostTests : IAsyncLifetime
{
    // This project's share of the loopback addresses; a busy one (another run) is skipped.
    private static readonly string[] Addresses = ["127.0.0.61", "127.0.0.62", "127.0.0.63", "127.0.0.64"];

    private readonly string _state = "/tmp/nf-shared-fleet-" + Guid.NewGuid().ToString("N")[..8];
    private readonly string _control = "/tmp/nf-cm-" + Guid.NewGuid().ToString("N")[..8];
    private string? _fleet;
    private string? _address;

    public async Task InitializeAsync()
    {
        var fleet = FleetScript.Find();
        if (fleet is null || !Environment.IsPrivilegedProcess)
        {
            return;
        }

        _address = Addresses.FirstOrDefault(a => !FleetScript.IsListening(a, 22));
        if (_address is null)
        {
            return;
        }

        var up = await ProcessRunner.RunAsync(
            [fleet, "up", "--dir", _state, "single:nfshared1:" + _address],
            new ProcessOptions { Timeout = TimeSpan.FromSeconds(120) });
        Assert.True(up.Succeeded, up.StdErr);
        _fleet = fleet;
    }

    public async Task DisposeAsync()
    {
        if (_fleet is not null)
        {
            var down = await ProcessRunner.RunAsync([_fleet, "down", "--dir", _state], new ProcessOptions { Timeout = TimeSpan.FromSeconds(60) });
            Assert.True(down.Succeeded, down.StdErr);
        }

        if (Directory.Exists(_control))
        {
            Directory.Delete(_control, recursive: true);
        }
    }

    [Fact]
    public async Task SingleUserHost_RefreshAndNixCommand_RunAsTheStoreOwnerOverAPinnedConnection()
    {
        if (_fleet is null || _address is null)
        {
            return; // No fleet here (see the class summary).
        }

        var keys = await SshHostKeys.ScanAsync(_address, 22, TestContext.Timeout);
        var key = SshHostKeys.PickPreferred(keys)!;
        var knownHosts = Path.Combine(_state, "known_hosts-test");
        await File.WriteAllTextAsync(knownHosts, SshHostKeys.KnownHostsLine("nfshared1", key.Type, key.Base64Blob) + "\n");
        var privateKey = await File.ReadAllTextAsync(Path.Combine(_state, "id_ed25519"));
        var connection = new SshConnection(
            new SshTarget(_address, 22, "root"),
            new SshSettings(_control, knownHosts, "nfshared1", TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30)),
            _ => ValueTask.FromResult(privateKey));
        try
        {
            var probe = await connection.RunScriptAsync(FactsProbe.Script, ct: TestContext.Timeout);
            var facts = FactsParser.Parse(probe.StdOut);
            var generations = await connection.RunAsync(
                NixLocator.Command(facts, "root", "nix-env", "--list-generations"), ct: TestContext.Timeout);
            var rootOwned = await connection.RunAsync(["find", "/nix", "!", "-user", "alice"], ct: TestContext.Timeout);

            Assert.Equal((NixInstallType.SingleUser, "alice", 3), (facts.InstallType, facts.StoreOwner, facts.CurrentGeneration));
            Assert.True(generations.Succeeded, generations.StdErr);
            Assert.Matches(@"^\s+3\s.*\(current\)$", generations.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]);
            Assert.Equal("", rootOwned.StdOut); // Refreshing and listing left nothing of root's in alice's store.
        }
        finally
        {
            await connection.CloseAsync();
        }
    }


}
