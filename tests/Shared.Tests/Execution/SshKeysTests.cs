using NixFleet.Shared.Execution;

namespace NixFleet.Shared.Tests.Execution;

public class SshKeysTests
{
    [Fact]
    public async Task GenerateAsync_GivesAnEd25519PairThatBelongsTogether()
    {
        var pair = await SshKeys.GenerateAsync("nixfleet@test", TestContext.Timeout);

        Assert.StartsWith("-----BEGIN OPENSSH PRIVATE KEY-----", pair.PrivateKey);
        Assert.StartsWith("ssh-ed25519 ", pair.PublicKey);
        Assert.EndsWith(" nixfleet@test", pair.PublicKey);
        Assert.DoesNotContain('\n', pair.PublicKey);
        var derived = await SshKeys.PublicKeyFromPrivateAsync(pair.PrivateKey, TestContext.Timeout);
        Assert.Equal(pair.PublicKey.Split(' ')[..2], derived.Split(' ')[..2]);
    }

    [Fact]
    public async Task GenerateAsync_LeavesNoKeyFilesBehind()
    {
        var work = Directory.CreateTempSubdirectory("nixfleet-test-");
        try
        {
            await SshKeys.GenerateAsync("x", work.FullName, TestContext.Timeout);

            Assert.Empty(work.GetFileSystemInfos());
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task GenerateAsync_CommentWithLineBreak_IsRejected() =>
        await Assert.ThrowsAsync<ArgumentException>(() => SshKeys.GenerateAsync("a\nssh-rsa AAAA evil"));

    [Fact]
    public async Task PublicKeyFromPrivateAsync_PastedWithCrLfAndNoFinalNewline_StillWorks()
    {
        var pair = await SshKeys.GenerateAsync("pasted", TestContext.Timeout);
        var pasted = pair.PrivateKey.TrimEnd().Replace("\n", "\r\n");

        var derived = await SshKeys.PublicKeyFromPrivateAsync(pasted, TestContext.Timeout);

        Assert.Equal(pair.PublicKey.Split(' ')[..2], derived.Split(' ')[..2]);
    }

    [Fact]
    public async Task PublicKeyFromPrivateAsync_NotAKey_FailsWithAClearMessage()
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() =>
            SshKeys.PublicKeyFromPrivateAsync("ssh-ed25519 AAAA this is a public key", TestContext.Timeout));

        Assert.Contains("not a private key", error.Message);
    }

    [Fact]
    public async Task PublicKeyFromPrivateAsync_CorruptKey_FailsWithSshKeygensReason()
    {
        var corrupt = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAnotreally\n-----END OPENSSH PRIVATE KEY-----\n";

        var error = await Assert.ThrowsAsync<ArgumentException>(() =>
            SshKeys.PublicKeyFromPrivateAsync(corrupt, TestContext.Timeout));

        Assert.Contains("cannot be used by OpenSSH", error.Message);
        Assert.DoesNotContain("nixfleet-keycheck-", error.Message);
    }

    [Fact]
    public async Task PublicKeyFromPrivateAsync_PassphraseProtectedKey_AsksToRemoveThePassphrase()
    {
        var directory = Directory.CreateTempSubdirectory("nixfleet-test-");
        try
        {
            var file = Path.Combine(directory.FullName, "key");
            await ProcessRunner.RunAsync(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-f", file], TestContext.Timeout);

            var error = await Assert.ThrowsAsync<ArgumentException>(() =>
                SshKeys.PublicKeyFromPrivateAsync(File.ReadAllText(file), TestContext.Timeout));

            Assert.Contains("passphrase", error.Message);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
