using System.Text.Json;
using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Nix;

/// <summary>The API edge of builders: every field held to what Nix and OpenSSH need, hostile strings refused with a message on their field.</summary>
public sealed class BuildersInputTests
{
    const string Ed25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILPpvB4ThvMewCLiRwtUpiDNnCTF8hWiTQPOj11dnd8a";

    static (BuilderInput? Input, Dictionary<string, string[]> Errors) Read(string json) =>
        BuilderInput.Read(JsonDocument.Parse(json).RootElement);

    static string Outside(string field, string value) =>
        $$"""{"address":"10.0.0.5","user":"builder","systems":["x86_64-linux"],"hostKey":"{{Ed25519}}", "{{field}}": {{value}} }""";

    [Fact]
    public void Read_AnOutsideMachine_WithDefaults()
    {
        var (input, errors) = Read($$"""{"address":"build1.example.org","user":"nix_b","systems":["x86_64-linux","aarch64-linux"],"hostKey":"{{Ed25519}} root@build1"}""");

        Assert.Empty(errors);
        Assert.Equal(("build1.example.org", 22, "nix_b", 1, 1), (input!.Address, input.Port, input.User, input.MaxJobs, input.SpeedFactor));
        Assert.Equal(["x86_64-linux", "aarch64-linux"], input.Systems);
        Assert.Empty(input.SupportedFeatures);
        Assert.Null(input.HostId);
    }

    [Fact]
    public void Read_AFleetHost_WithEveryField()
    {
        var (input, errors) = Read("""
            {"hostId":"7f0c3e0e-58a4-4c50-9c4e-7f2f1e0b8a11","port":2222,"user":"builder","systems":["aarch64-darwin"],
             "maxJobs":1024,"speedFactor":1000,"supportedFeatures":["kvm","big-parallel","gccarch-x86-64-v3","nixos-test"],"mandatoryFeatures":["benchmark"]}
            """);

        Assert.Empty(errors);
        Assert.Equal(Guid.Parse("7f0c3e0e-58a4-4c50-9c4e-7f2f1e0b8a11"), input!.HostId);
        Assert.Equal((2222, 1024, 1000), (input.Port, input.MaxJobs, input.SpeedFactor));
        Assert.Equal(["benchmark"], input.MandatoryFeatures);
    }

    [Theory]
    [InlineData("systems", """["x86_64"]""")]
    [InlineData("systems", """["x86_64-linux-gnu"]""")]
    [InlineData("systems", """["X86_64-Linux"]""")]
    [InlineData("systems", """["x86_64-linux; rm -rf /"]""")]
    [InlineData("systems", """["x86_64-linux,aarch64-linux"]""")]
    [InlineData("systems", """[]""")]
    [InlineData("systems", "\"x86_64-linux\"")]
    [InlineData("maxJobs", "-1")]
    [InlineData("maxJobs", "0")]
    [InlineData("maxJobs", "1025")]
    [InlineData("maxJobs", "99999999999999999999")]
    [InlineData("maxJobs", "2.5")]
    [InlineData("maxJobs", "\"four\"")]
    [InlineData("maxJobs", "\"4\"")]
    [InlineData("speedFactor", "0")]
    [InlineData("speedFactor", "1001")]
    [InlineData("speedFactor", "true")]
    [InlineData("supportedFeatures", """["big parallel"]""")]
    [InlineData("supportedFeatures", """["kvm;touch /tmp/x"]""")]
    [InlineData("supportedFeatures", """["$(id)"]""")]
    [InlineData("supportedFeatures", """["kvm,benchmark"]""")]
    [InlineData("supportedFeatures", """["-"]""")]
    [InlineData("supportedFeatures", """["kvm\nssh://evil@host"]""")]
    [InlineData("mandatoryFeatures", """["a`b`"]""")]
    [InlineData("mandatoryFeatures", """["#comment"]""")]
    [InlineData("user", "\"builder@evil\"")]
    [InlineData("user", "\"-oProxyCommand=sh\"")]
    [InlineData("user", "\"Builder\"")]
    [InlineData("user", "\"\"")]
    [InlineData("user", "\"a b\"")]
    [InlineData("user", "\"abcdefghijklmnopqrstuvwxyzabcdefg\"")]
    [InlineData("user", "42")]
    [InlineData("address", "\"-oProxyCommand=sh\"")]
    [InlineData("address", "\"host name\"")]
    [InlineData("address", "\"[::1]\"")]
    [InlineData("address", "\"fe80::1%eth0\"")]
    [InlineData("address", "\"10.0.0.5:22\"")]
    [InlineData("address", "\"256.1.1.1\"")]
    [InlineData("address", "\"1\"")]
    [InlineData("address", "\"host;reboot\"")]
    [InlineData("address", "\"-host\"")]
    [InlineData("port", "0")]
    [InlineData("port", "65536")]
    [InlineData("port", "-22")]
    [InlineData("port", "\"22\"")]
    [InlineData("hostKey", "\"ssh-dss AAAAB3NzaC1kc3MAAACBAP\"")]
    [InlineData("hostKey", "\"ssh-ed25519 not-base64!\"")]
    [InlineData("hostKey", "\"ssh-ed25519\"")]
    [InlineData("hostKey", "\"ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAILPpvB4ThvMewCLiRwtUpiDNnCTF8hWiTQPOj11dnd8a\"")]
    [InlineData("hostKey", "\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILPpvB4ThvMewCLiRwtUpiDNnCTF8hWiTQPOj11dnd8a\\nssh-ed25519 AAAA\"")]
    [InlineData("hostKey", "\"ssh-ed25519 SGVsbG8=\"")]
    [InlineData("hostId", "\"not-a-guid\"")]
    public void Read_BadField_IsRefused_WithAMessageOnThatField(string field, string value)
    {
        var (input, errors) = Read(Outside(field, value));

        Assert.Null(input);
        Assert.True(errors.ContainsKey(field), $"{field}: {string.Join("; ", errors.Select(e => $"{e.Key}: {string.Join(" ", e.Value)}"))}");
        Assert.All(errors[field], m => Assert.False(string.IsNullOrWhiteSpace(m)));
    }

    [Theory]
    [InlineData("10.0.0.5")]
    [InlineData("2001:db8::5")]
    [InlineData("::1")]
    [InlineData("build-1.example.org")]
    [InlineData("localhost")]
    public void Read_Addresses_IpLiteralsAndDnsNames(string address)
    {
        var (_, errors) = Read(Outside("address", $"\"{address}\""));
        Assert.Empty(errors);
    }

    [Fact]
    public void Read_HostIdAndAddress_OneOfThem()
    {
        Assert.Contains("address", Read("""{"user":"builder","systems":["x86_64-linux"]}""").Errors.Keys);
        Assert.Contains("address", Read(Outside("hostId", "\"7f0c3e0e-58a4-4c50-9c4e-7f2f1e0b8a11\"")).Errors.Keys);
    }

    [Fact]
    public void Read_NotAnObject_IsRefused() =>
        Assert.Contains("", Read("[1]").Errors.Keys);

    [Fact]
    public void Read_SeveralBadFields_AreAllNamed()
    {
        var (_, errors) = Read("""{"address":"a b","user":"-x","systems":["x"],"maxJobs":-3,"speedFactor":0,"supportedFeatures":["a b"]}""");
        Assert.Equal(["address", "maxJobs", "speedFactor", "supportedFeatures", "systems", "user"], errors.Keys.Order());
    }

    [Theory]
    [InlineData(Ed25519)]
    [InlineData(Ed25519 + " root@build1")]
    [InlineData("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBFZl5jAZuxSDyF7ohizDcWB8tXNcD8XfHO5ncUYZn1KJXvDpvtUZUSBfYbBvDOuBnbEDnXEmcskvM49rx1sGAOU=")]
    public void PublicKey_KnownTypes_WithTheirOwnBlob(string line)
    {
        var key = OpenSshPublicKey.Parse(line);
        Assert.NotNull(key);
        Assert.Equal(string.Join(' ', line.Split(' ').Take(2)), key.Line);
    }
}
