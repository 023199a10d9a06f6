using NixFleet.Web.Data;
using NixFleet.Web.Features.Hosts;

namespace NixFleet.Web.Tests.Components;

public sealed class HostComponentsTests
{
    [Fact]
    public async Task FactsPanel_ShowsFacts_AndEveryChannel()
    {
        var doc = await Html.RenderAsync<FactsPanel>(new() { [nameof(FactsPanel.Facts)] = Fakes.Facts(), [nameof(FactsPanel.Now)] = Fakes.Now });

        string Fact(string key) => doc.QuerySelector($"[data-fact={key}]").Text();
        Assert.Equal("NixOS 24.05", Fact("os"));
        Assert.Equal("Yes", Fact("nixos"));
        Assert.Equal("2.18.1", Fact("nix"));
        Assert.Equal("multi-user Nix (daemon)", Fact("install"));
        Assert.Equal("5.0 GiB", Fact("store"));
        Assert.Equal("300.0 MiB", Fact("free"));
        Assert.StartsWith("42", Fact("generation"));
        Assert.Equal("/nix/store/abc-nixos-system-web-24.05", Fact("system"));

        var channels = doc.QuerySelectorAll(".channels-table tbody tr")
            .Select(r => r.QuerySelectorAll("td").Select(c => c.Text()).ToArray()).ToList();
        Assert.Equal(2, channels.Count);
        Assert.Equal(["root", "nixos", "https://nixos.org/channels/nixos-24.05"], channels[0]);
        Assert.Equal(["alice", "home-manager", "https://example.test/hm.tar.gz"], channels[1]);
    }

    [Fact]
    public async Task FactsPanel_WithoutFacts_SaysWhatToDo()
    {
        var doc = await Html.RenderAsync<FactsPanel>(new() { [nameof(FactsPanel.Facts)] = null });
        Assert.Contains("No facts yet", doc.QuerySelector(".facts-panel").Text());
    }

    static Task<AngleSharp.Dom.IDocument> KeyPanel(FleetHost host, bool canOperate, bool isAdmin) =>
        Html.RenderAsync<HostKeyPanel>(new()
        {
            [nameof(HostKeyPanel.Host)] = host,
            [nameof(HostKeyPanel.CanOperate)] = canOperate,
            [nameof(HostKeyPanel.IsAdmin)] = isAdmin,
        });

    [Fact]
    public async Task KeyPanel_Unverified_PostsTheFingerprintItShows()
    {
        var host = Fakes.Host("alpha", HostKeyStatus.Unverified);
        var doc = await KeyPanel(host, canOperate: true, isAdmin: false);

        Assert.Equal(host.ScannedFingerprint, doc.QuerySelector("[data-fingerprint=scanned]")!.ChildNodes[0].TextContent.Trim());
        var form = doc.QuerySelector("button.accept-key")!.Closest("form")!;
        Assert.Equal(host.ScannedFingerprint, form.QuerySelector("input[name=fingerprint]")!.GetAttribute("value"));
        Assert.NotNull(form.QuerySelector("input[name=__RequestVerificationToken]"));
    }

    [Fact]
    public async Task KeyPanel_Unverified_ForAViewer_HasNoButtons()
    {
        var doc = await KeyPanel(Fakes.Host("alpha", HostKeyStatus.Unverified), canOperate: false, isAdmin: false);
        Assert.Empty(doc.QuerySelectorAll("form"));
    }

    [Fact]
    public async Task KeyPanel_Changed_IsAnAlarm_AndOnlyAnAdminCanRepin()
    {
        var host = Fakes.Host("bravo", HostKeyStatus.Changed);

        var admin = await KeyPanel(host, canOperate: true, isAdmin: true);
        var alarm = admin.QuerySelector(".alert.alert-danger.alert-important")!;
        Assert.Contains("all work on this host is stopped", alarm.TextContent);
        var repin = admin.QuerySelector("button.repin-key")!.Closest("form")!;
        Assert.Equal(host.ScannedFingerprint, repin.QuerySelector("input[name=fingerprint]")!.GetAttribute("value"));
        // The re-pin is behind a confirmation that names both keys.
        var confirm = repin.Closest("details.confirm")!;
        Assert.Contains(host.ScannedFingerprint!, confirm.TextContent);
        Assert.Contains(host.TrustedFingerprint!, confirm.TextContent);
        Assert.NotNull(admin.QuerySelector("button.rescan-key"));

        var op = await KeyPanel(host, canOperate: true, isAdmin: false);
        Assert.NotNull(op.QuerySelector(".alert.alert-danger.alert-important"));
        Assert.Null(op.QuerySelector("button.repin-key"));
        Assert.Null(op.QuerySelector("button.accept-key"));
        Assert.Contains("Only an administrator", op.QuerySelector(".hostkey-panel").Text());
    }

    [Fact]
    public async Task FactsHistory_ListsRowsAsGiven()
    {
        var older = Fakes.Facts();
        older.CollectedAt = Fakes.Now.AddHours(-1);
        older.StoreSizeBytes = 4L << 30;
        var doc = await Html.RenderAsync<FactsHistory>(new() { [nameof(FactsHistory.Rows)] = new[] { Fakes.Facts(), older } });
        var rows = doc.QuerySelectorAll("tbody tr");
        Assert.Equal(2, rows.Length);
        Assert.Equal("4.0 GiB", rows[1].QuerySelectorAll("td")[1].Text());
    }
}
