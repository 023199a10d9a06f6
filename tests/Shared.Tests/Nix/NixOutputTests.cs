using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Nix;

public class NixOutputTests
{
    [Theory]
    [InlineData("nix-env (Nix) 2.8.0\n", "2.8.0")]
    [InlineData("nix-env (Nix) 2.18.1", "2.18.1")]
    [InlineData("nix-env (Nix) 2.4pre20210908_3c56f62\n", "2.4pre20210908_3c56f62")]
    [InlineData("nix-env (Lix, like Nix) 2.90.0\n", "2.90.0")]
    [InlineData("", null)]
    [InlineData("sh: 1: nix-env: not found\n", null)]
    public void ParseVersion_ReadsTheVersionNumber(string output, string? expected) =>
        Assert.Equal(expected, NixOutput.ParseVersion(output));

    [Fact]
    public void ParseChannelList_ReadsNameAndUrlPerLine()
    {
        var channels = NixOutput.ParseChannelList(
            "nixpkgs https://nixos.org/channels/nixpkgs-unstable\n\nnixos   https://nixos.org/channels/nixos-24.05\nbroken\n");

        Assert.Equal(
            [("nixpkgs", "https://nixos.org/channels/nixpkgs-unstable"), ("nixos", "https://nixos.org/channels/nixos-24.05")],
            channels);
    }

    [Fact]
    public void ParseChannelList_NoChannels_IsEmpty() =>
        Assert.Empty(NixOutput.ParseChannelList(""));
}
