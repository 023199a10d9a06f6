using NixFleet.Shared.Execution;

namespace NixFleet.Shared.Tests.Execution;

public class SshFailureTests
{
    // Verbatim stderr of OpenSSH 9.2 for each situation.
    private const string ChangedKey = """
        @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
        @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
        @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
        IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
        Someone could be eavesdropping on you right now (man-in-the-middle attack)!
        It is also possible that a host key has just been changed.
        The fingerprint for the ED25519 key sent by the remote host is
        SHA256:TX0xBQNfSoFwG5/hW6yEEiMbA8lwkUEh+HxMd0R1Zio.
        Please contact your system administrator.
        Add correct host key in /tmp/sf/wrong to get rid of this message.
        Offending ED25519 key in /tmp/sf/wrong:1
          remove with:
          ssh-keygen -f "/tmp/sf/wrong" -R "kk"
        Host key for kk has changed and you have requested strict checking.
        Host key verification failed.
        """;

    [Theory]
    [InlineData(ChangedKey, SshFailure.HostKeyChanged)]
    [InlineData("No ED25519 host key is known for host-7 and you have requested strict checking.\nHost key verification failed.\n", SshFailure.HostKeyUnknown)]
    [InlineData("Host key verification failed.\n", SshFailure.HostKeyUnknown)]
    [InlineData("root@127.0.0.66: Permission denied (publickey).\n", SshFailure.AuthenticationFailed)]
    [InlineData("Received disconnect from 10.0.0.1 port 22:2: Too many authentication failures\n", SshFailure.AuthenticationFailed)]
    [InlineData("ssh: connect to host 127.0.0.66 port 2223: Connection refused\n", SshFailure.Unreachable)]
    [InlineData("ssh: connect to host 10.1.2.3 port 22: Connection timed out\n", SshFailure.Unreachable)]
    [InlineData("Connection timed out during banner exchange\n", SshFailure.Unreachable)]
    [InlineData("ssh: connect to host 10.1.2.3 port 22: No route to host\n", SshFailure.Unreachable)]
    [InlineData("ssh: Could not resolve hostname nonexistent.invalid: Name or service not known\n", SshFailure.Unreachable)]
    [InlineData("kex_exchange_identification: read: Connection reset by peer\n", SshFailure.Unreachable)]
    [InlineData("Connection closed by 127.0.0.12 port 22\n", SshFailure.Unreachable)]
    // A multiplexed session whose host vanished ends with 255 and an empty stderr.
    [InlineData("", SshFailure.Unreachable)]
    [InlineData("something else entirely\n", SshFailure.Other)]
    public void Classify_OpenSshStderr_GivesTheKindOfFailure(string stdErr, SshFailure expected) =>
        Assert.Equal(expected, SshException.Classify(stdErr));

    [Fact]
    public void SshException_KeepsStderrVerbatim_AndSaysWhatHappenedInItsMessage()
    {
        var error = new SshException("root@h: Permission denied (publickey).\n");

        Assert.Equal(SshFailure.AuthenticationFailed, error.Failure);
        Assert.Equal("root@h: Permission denied (publickey).\n", error.StdErr);
        Assert.Equal("The host rejected the SSH key: root@h: Permission denied (publickey).", error.Message);
    }
}
