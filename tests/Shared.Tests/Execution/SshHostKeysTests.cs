using NixFleet.Shared.Execution;

namespace NixFleet.Shared.Tests.Execution;

public class SshHostKeysTests
{
    // Recorded from "ssh-keyscan -T 5 -t ed25519,ecdsa,rsa -p 2222 -- 127.0.0.66" (OpenSSH 9.2).
    private const string ScanOutput = """
        # 127.0.0.66:2222 SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10
        [127.0.0.66]:2222 ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDc
        [127.0.0.66]:2222 ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBE0=
        [127.0.0.66]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBj4aKqFLbRcEubneHVxgo3PrN/aM6oHsK1L3/Et6QYO
        garbage line
        """;

    [Fact]
    public void ParseScanOutput_ReadsEveryKeyAndSkipsCommentsAndJunk()
    {
        var keys = SshHostKeys.ParseScanOutput(ScanOutput);

        Assert.Equal(["ssh-rsa", "ecdsa-sha2-nistp256", "ssh-ed25519"], keys.Select(k => k.Type));
        Assert.Equal("AAAAC3NzaC1lZDI1NTE5AAAAIBj4aKqFLbRcEubneHVxgo3PrN/aM6oHsK1L3/Et6QYO", keys[2].Base64Blob);
    }

    [Fact]
    public void PickPreferred_Ed25519BeforeEcdsaBeforeRsa()
    {
        var keys = SshHostKeys.ParseScanOutput(ScanOutput);

        Assert.Equal("ssh-ed25519", SshHostKeys.PickPreferred(keys)?.Type);
        Assert.Equal("ecdsa-sha2-nistp256", SshHostKeys.PickPreferred(keys.Where(k => k.Type != "ssh-ed25519"))?.Type);
        Assert.Equal("ssh-rsa", SshHostKeys.PickPreferred(keys.Where(k => k.Type == "ssh-rsa"))?.Type);
        Assert.Null(SshHostKeys.PickPreferred([]));
    }

    [Fact]
    public void Fingerprint_OfARecordedKey_MatchesWhatSshKeygenPrinted() =>
        Assert.Equal(
            "SHA256:TX0xBQNfSoFwG5/hW6yEEiMbA8lwkUEh+HxMd0R1Zio",
            SshHostKeys.Fingerprint("AAAAC3NzaC1lZDI1NTE5AAAAIBj4aKqFLbRcEubneHVxgo3PrN/aM6oHsK1L3/Et6QYO"));

    [Theory]
    [InlineData("ed25519")]
    [InlineData("ecdsa")]
    [InlineData("rsa")]
    public async Task Fingerprint_OfAGeneratedKey_MatchesSshKeygen(string type)
    {
        var directory = Directory.CreateTempSubdirectory("nixfleet-test-");
        try
        {
            var file = Path.Combine(directory.FullName, "key");
            var keygen = await ProcessRunner.RunAsync(
                ["ssh-keygen", "-q", "-t", type, "-N", "", "-f", file], TestContext.Timeout);
            Assert.Equal(0, keygen.ExitCode);
            var listed = await ProcessRunner.RunAsync(["ssh-keygen", "-lf", file + ".pub"], TestContext.Timeout);
            var blob = File.ReadAllText(file + ".pub").Split(' ')[1];

            // "256 SHA256:abc... comment (ED25519)"
            Assert.Equal(listed.StdOut.Split(' ')[1], SshHostKeys.Fingerprint(blob));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void Fingerprint_NotBase64_IsRejected() =>
        Assert.Throws<ArgumentException>(() => SshHostKeys.Fingerprint("not base64!"));

    [Fact]
    public void KnownHostsLine_IsAliasTypeAndBlob() =>
        Assert.Equal(
            "nixfleet-host-7 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBj4aKqFLbRcEubneHVxgo3PrN/aM6oHsK1L3/Et6QYO",
            SshHostKeys.KnownHostsLine("nixfleet-host-7", "ssh-ed25519", "AAAAC3NzaC1lZDI1NTE5AAAAIBj4aKqFLbRcEubneHVxgo3PrN/aM6oHsK1L3/Et6QYO"));

    [Theory]
    [InlineData("*", "ssh-ed25519", "AAAA")]
    [InlineData("a,b", "ssh-ed25519", "AAAA")]
    [InlineData("!host", "ssh-ed25519", "AAAA")]
    [InlineData("host\nevil", "ssh-ed25519", "AAAA")]
    [InlineData("host", "ssh-ed25519 x", "AAAA")]
    [InlineData("host", "ssh-ed25519", "AAAA\nevil ssh-rsa AAAA")]
    public void KnownHostsLine_AnythingThatCouldWidenTheMatch_IsRejected(string alias, string type, string blob) =>
        Assert.Throws<ArgumentException>(() => SshHostKeys.KnownHostsLine(alias, type, blob));

    [Fact]
    public async Task ScanAsync_AddressLookingLikeAnOption_IsRejected() =>
        await Assert.ThrowsAsync<ArgumentException>(() => SshHostKeys.ScanAsync("-oProxyCommand=touch /tmp/x", 22));

    [Fact]
    public async Task ScanAsync_NothingListening_ThrowsUnreachable()
    {
        var error = await Assert.ThrowsAsync<SshException>(() => SshHostKeys.ScanAsync("127.0.0.65", 1, TestContext.Timeout));

        Assert.Equal(SshFailure.Unreachable, error.Failure);
    }
}
