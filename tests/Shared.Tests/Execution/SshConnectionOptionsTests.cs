using NixFleet.Shared.Execution;

namespace NixFleet.Shared.Tests.Execution;

public class SshConnectionOptionsTests
{
    private static readonly SshSettings Settings = new(
        "/var/lib/nixfleet/ssh", "/var/lib/nixfleet/ssh/known_hosts", "host-42", TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(5));

    private static SshConnection Create(SshTarget target, SshSettings? settings = null) =>
        new(target, settings ?? Settings, _ => ValueTask.FromResult("key"));

    [Fact]
    public void CommonOptions_PinHostKeysByAliasAndNeverAsk()
    {
        var options = string.Join(' ', Create(new SshTarget("10.0.0.5", 2222, "root")).CommonOptions());

        Assert.Contains("-F /dev/null", options);
        Assert.Contains("-o BatchMode=yes", options);
        Assert.Contains("-o StrictHostKeyChecking=yes", options);
        Assert.Contains("-o UserKnownHostsFile=/var/lib/nixfleet/ssh/known_hosts", options);
        Assert.Contains("-o GlobalKnownHostsFile=/dev/null", options);
        Assert.Contains("-o HostKeyAlias=host-42", options);
        Assert.Contains("-o IdentitiesOnly=yes", options);
        Assert.Contains("-o ConnectTimeout=10", options);
        Assert.Contains("-o LogLevel=ERROR", options);
        Assert.Contains("-p 2222", options);
        Assert.Contains("-l root", options);
    }

    [Fact]
    public void ControlPath_IsShortAndDiffersPerTarget()
    {
        var a = Create(new SshTarget("10.0.0.5", 22, "root")).ControlPath;
        var b = Create(new SshTarget("10.0.0.5", 22, "alice")).ControlPath;

        Assert.StartsWith("/var/lib/nixfleet/ssh/", a);
        Assert.NotEqual(a, b);
        Assert.True(a.Length < 100);
    }

    [Theory]
    [InlineData("-oProxyCommand=touch /tmp/x", 22, "root")]
    [InlineData("host name", 22, "root")]
    [InlineData("host", 0, "root")]
    [InlineData("host", 70000, "root")]
    [InlineData("host", 22, "-oProxyCommand=x")]
    [InlineData("host", 22, "ro ot")]
    public void Constructor_TargetThatSshCouldMisread_IsRejected(string address, int port, string user) =>
        Assert.Throws<ArgumentException>(() => Create(new SshTarget(address, port, user)));

    [Fact]
    public void Constructor_ControlDirectoryTooLongForASocketPath_IsRejected() =>
        Assert.Throws<ArgumentException>(() => Create(
            new SshTarget("h", 22, "root"), Settings with { ControlDirectory = "/" + new string('d', 70) }));

    [Theory]
    [InlineData("relative/known_hosts")]
    [InlineData("/path with space/known_hosts")]
    [InlineData("/path/%d/known_hosts")]
    public void Constructor_KnownHostsPathSshWouldSplitOrExpand_IsRejected(string path) =>
        Assert.Throws<ArgumentException>(() => Create(new SshTarget("h", 22, "root"), Settings with { KnownHostsFile = path }));

    [Fact]
    public void Constructor_Ipv6Address_IsAccepted() =>
        Assert.NotNull(Create(new SshTarget("::1", 22, "root")));
}
