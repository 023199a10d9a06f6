using AngleSharp.Dom;
using NixFleet.Shared.Nix;
using NixFleet.Web.Features.Generations;

namespace NixFleet.Web.Tests.Components;

public sealed class GenerationsComponentsTests
{
    const string SystemProfile = "/nix/var/nix/profiles/system";
    static readonly Guid HostId = Guid.Parse("3f2504e0-4f89-11d3-9a0c-0305e82c3301");

    static string Path(char c, string name) => $"/nix/store/{new string(c, 32)}-{name}";

    static Generation SystemGeneration(int n, bool current = false, bool boot = false) => new(
        n, Fakes.Now.AddDays(n - 10), Path((char)('a' + n), $"nixos-system-web-01-24.05.{n}"), current, boot, $"24.05.{n}", $"6.6.{n}", true);

    /// <summary>Generations 3, 2, 1 (newest first); <paramref name="running"/> runs, <paramref name="booting"/> boots.</summary>
    static ProfileGenerations System(int running = 3, int booting = 3) => new(SystemProfile, "root",
        [.. new[] { 3, 2, 1 }.Select(n => SystemGeneration(n, n == running, n == booting))]) { IsSystem = true };

    static ProfileGenerations UserProfile() => new("/nix/var/nix/profiles/per-user/alice/profile", "alice",
    [
        new(5, Fakes.Now.AddDays(-1), Path('e', "user-environment"), true, true, null, null, false),
        new(4, Fakes.Now.AddDays(-2), Path('d', "user-environment"), false, false, null, null, false),
    ]);

    static Task<IDocument> CardAsync(ProfileGenerations profile, bool canOperate) => Html.RenderAsync<ProfileGenerationsCard>(new()
    {
        [nameof(ProfileGenerationsCard.HostId)] = HostId,
        [nameof(ProfileGenerationsCard.Profile)] = profile,
        [nameof(ProfileGenerationsCard.CanOperate)] = canOperate,
        [nameof(ProfileGenerationsCard.Now)] = Fakes.Now,
    });

    static string[] Badges(IDocument doc, int generation) =>
        [.. doc.QuerySelectorAll($"tr[data-generation='{generation}'] .generation-badge").Select(b => b.Text())];

    [Fact]
    public async Task GenerationsTable_MarksRunningAndBootDefault_NewestFirst_AndOffersRollbackToOperators()
    {
        var doc = await CardAsync(System(), canOperate: true);

        Assert.Equal(["3", "2", "1"], doc.QuerySelectorAll("tbody tr").Select(r => r.GetAttribute("data-generation")));
        Assert.Equal(["running now", "boot default"], Badges(doc, 3));
        Assert.Empty(Badges(doc, 2));
        Assert.Empty(Badges(doc, 1));
        Assert.Equal("NixOS system", doc.QuerySelector("h3.card-title").Text());
        Assert.Equal("24.05.2", doc.QuerySelector("tr[data-generation='2'] .generation-nixos").Text());
        Assert.Equal("6.6.2", doc.QuerySelector("tr[data-generation='2'] .generation-kernel").Text());
        // Short path on the page, the whole one on hover.
        var path = doc.QuerySelector("tr[data-generation='2'] .generation-path")!;
        Assert.Equal(SystemGeneration(2).StorePath, path.GetAttribute("title"));
        Assert.Equal("cccccccc…-nixos-system-web-01-24.05.2", path.Text());

        // Nothing to roll back to on the generation that already runs and boots.
        Assert.Null(doc.QuerySelector("tr[data-generation='3'] .rollback-to"));
        var rollback = doc.QuerySelector("tr[data-generation='2'] a.rollback-to")!;
        Assert.Equal("Roll back to this", rollback.Text());
        Assert.Equal($"/hosts/{HostId}/generations/rollback?profile=%2Fnix%2Fvar%2Fnix%2Fprofiles%2Fsystem&to=2", rollback.GetAttribute("href"));
        Assert.Equal($"/hosts/{HostId}/generations/compare?profile=%2Fnix%2Fvar%2Fnix%2Fprofiles%2Fsystem&from=3&to=1",
            doc.QuerySelector("tr[data-generation='1'] a.compare-generation")!.GetAttribute("href"));
        // "Previous generation" is nix-env --rollback's pick: no number in the link, the confirmation page resolves it.
        var previous = doc.QuerySelector("a.previous-generation")!;
        Assert.Contains("Previous generation (2)", previous.Text());
        Assert.Equal($"/hosts/{HostId}/generations/rollback?profile=%2Fnix%2Fvar%2Fnix%2Fprofiles%2Fsystem", previous.GetAttribute("href"));
        Assert.NotNull(doc.QuerySelector("form.delete-generations-form"));
    }

    [Fact]
    public async Task GenerationsTable_ForAViewer_HasNoActionButtons()
    {
        var doc = await CardAsync(System(), canOperate: false);

        Assert.Equal(["running now", "boot default"], Badges(doc, 3));
        Assert.Empty(doc.QuerySelectorAll(".rollback-to"));
        Assert.Null(doc.QuerySelector(".previous-generation"));
        Assert.Null(doc.QuerySelector("form"));
        Assert.DoesNotContain("Roll back", doc.Body!.TextContent);
        // Comparing only reads: a Viewer may.
        Assert.Equal(2, doc.QuerySelectorAll("a.compare-generation").Length);
    }

    [Fact]
    public async Task GenerationsTable_WhenTheHostRunsAnotherGenerationThanItBoots_SaysSo_AndBadgesEach()
    {
        // After a rollback in test mode: 2 runs, 3 is still the boot default.
        var doc = await CardAsync(System(running: 2, booting: 3), canOperate: true);

        Assert.Equal(["running now"], Badges(doc, 2));
        Assert.Equal(["boot default"], Badges(doc, 3));
        Assert.Contains("runs generation 2 but boots generation 3", doc.QuerySelector(".alert-warning").Text());
        Assert.Equal("Roll forward to this", doc.QuerySelector("tr[data-generation='3'] a.rollback-to").Text());
        // Switching to what runs makes it the boot default too: offered.
        Assert.NotNull(doc.QuerySelector("tr[data-generation='2'] a.rollback-to"));
    }

    [Fact]
    public async Task GenerationsTable_UserProfile_ShowsItsOwner_AndOnlyCurrent()
    {
        var doc = await CardAsync(UserProfile(), canOperate: true);

        Assert.Equal("alice's profile", doc.QuerySelector("h3.card-title").Text());
        Assert.Equal(["current"], Badges(doc, 5));
        Assert.DoesNotContain("NixOS", doc.QuerySelectorAll("th").Select(t => t.Text()));
        Assert.Null(doc.QuerySelector(".generation-nixos"));
        Assert.Null(doc.QuerySelector("tr[data-generation='5'] .rollback-to"));
        Assert.NotNull(doc.QuerySelector("tr[data-generation='4'] .rollback-to"));
    }

    static ClosureDiff Diff() => DiffClosures.Parse("""
        cowsay: 3.7.0 → ∅, -52.1 KiB
        hello: ∅ → 2.12.1, +120.0 KiB
        linux: 6.6.32 → 6.6.31
        """);

    static Dictionary<string, object?> ConfirmParameters(ProfileGenerations profile, Generation to) => new()
    {
        [nameof(RollbackConfirm.HostId)] = HostId,
        [nameof(RollbackConfirm.HostName)] = "web-01",
        [nameof(RollbackConfirm.Profile)] = profile,
        [nameof(RollbackConfirm.To)] = to,
        [nameof(RollbackConfirm.DiffFrom)] = profile.Current,
    };

    [Fact]
    public async Task RollbackConfirm_ShowsFromTo_WhatEachModeDoes_AndTheDiffRows()
    {
        var profile = System();
        var parameters = ConfirmParameters(profile, profile.Find(2)!);
        parameters[nameof(RollbackConfirm.Diff)] = Diff();
        parameters[nameof(RollbackConfirm.Reactivate)] = true;
        var doc = await Html.RenderAsync<RollbackConfirm>(parameters);

        Assert.Equal("web-01", doc.QuerySelector("[data-summary=host]").Text());
        var from = doc.QuerySelector("[data-summary=from]")!;
        Assert.Equal("3", from.GetAttribute("data-generation"));
        Assert.Equal(profile.Find(3)!.StorePath, from.QuerySelector(".store-path").Text());
        Assert.Contains("also the boot default", from.TextContent);
        var to = doc.QuerySelector("[data-summary=to]")!;
        Assert.Equal("2", to.GetAttribute("data-generation"));
        Assert.Equal(profile.Find(2)!.StorePath, to.QuerySelector(".store-path").Text());

        Assert.Equal(
            [
                "switch: activate now and make it the boot default",
                "boot: boot default only, takes effect at next reboot",
                "test: activate now, not the boot default; a reboot returns to the boot default",
            ],
            doc.QuerySelectorAll(".rollback-modes .form-check-label").Select(l => l.Text()));
        Assert.Equal(["switch"], doc.QuerySelectorAll("input[name='Form.Mode'][checked]").Select(i => i.GetAttribute("value")));

        var rows = doc.QuerySelectorAll(".diff-table tbody tr");
        Assert.Equal(["cowsay", "hello", "linux"], rows.Select(r => r.GetAttribute("data-package")));
        Assert.Equal(["removed", "added", "changed"], rows.Select(r => r.GetAttribute("data-change")));
        Assert.Equal(["3.7.0", "∅", "6.6.32"], rows.Select(r => r.QuerySelector(".diff-from").Text()));
        Assert.Equal(["∅", "2.12.1", "6.6.31"], rows.Select(r => r.QuerySelector(".diff-to").Text()));
        Assert.Equal("+67.9 KiB", doc.QuerySelector(".diff-size").Text());
        Assert.Equal("−52.1 KiB", rows[0].QuerySelector(".diff-package-size").Text());

        Assert.Equal("2", doc.QuerySelector("input[type=hidden][name='Form.To']")!.GetAttribute("value"));
        Assert.True(doc.QuerySelector("input#reason")!.HasAttribute("required"));
        Assert.True(doc.QuerySelector("input[name='Form.Reactivate']")!.HasAttribute("checked"));
        var confirm = doc.QuerySelector("button.confirm-rollback")!;
        Assert.Contains("btn-danger", confirm.ClassList);
        Assert.Equal("Confirm: web-01 to generation 2", confirm.Text());
    }

    [Fact]
    public async Task RollbackConfirm_WhenTheDiffCouldNotBeRead_SaysWhy_AndStillOffersToConfirm()
    {
        var profile = System();
        var parameters = ConfirmParameters(profile, profile.Find(1)!);
        parameters[nameof(RollbackConfirm.DiffError)] = "nix store diff-closures failed (exit 1): error: path is not valid";
        parameters[nameof(RollbackConfirm.Errors)] = new Dictionary<string, string[]> { ["reason"] = ["Say why: the reason goes into the audit trail."] };
        var doc = await Html.RenderAsync<RollbackConfirm>(parameters);

        Assert.Contains("path is not valid", doc.QuerySelector(".diff-error").Text());
        Assert.Null(doc.QuerySelector(".diff-table"));
        Assert.NotNull(doc.QuerySelector("button.confirm-rollback"));
        Assert.Equal("Say why: the reason goes into the audit trail.", doc.QuerySelector("[data-field-error=reason]").Text());
        Assert.Contains("is-invalid", doc.QuerySelector("input#reason")!.ClassList);
    }

    [Fact]
    public async Task RollbackConfirm_ForAUserProfile_OffersNoModes_AndNoReactivation()
    {
        var profile = UserProfile();
        var doc = await Html.RenderAsync<RollbackConfirm>(ConfirmParameters(profile, profile.Find(4)!));

        Assert.Null(doc.QuerySelector(".rollback-modes"));
        Assert.Equal("switch", doc.QuerySelector("input[type=hidden][name='Form.Mode']")!.GetAttribute("value"));
        Assert.Null(doc.QuerySelector("input[name='Form.Reactivate']"));
        Assert.Equal("5", doc.QuerySelector("[data-summary=from]")!.GetAttribute("data-generation"));
        Assert.Contains("nix-env --switch-generation 4", doc.QuerySelector(".mode-description").Text());
    }

    static ProfileGenerations FiveGenerations() => new(SystemProfile, "root",
        [.. Enumerable.Range(1, 5).Reverse().Select(n => SystemGeneration(n, n == 4, n == 4))]) { IsSystem = true };

    static Task<IDocument> PreviewAsync(ProfileGenerations profile, GenerationsService.DeletePreview preview, bool changed = false) =>
        Html.RenderAsync<DeletePreviewPanel>(new()
        {
            [nameof(DeletePreviewPanel.HostId)] = HostId,
            [nameof(DeletePreviewPanel.HostName)] = "web-01",
            [nameof(DeletePreviewPanel.Profile)] = profile,
            [nameof(DeletePreviewPanel.Preview)] = preview,
            [nameof(DeletePreviewPanel.Changed)] = changed,
        });

    [Fact]
    public async Task DeletePreview_ListsExactlyThePreviewedGenerations_AndKeepsTheRest()
    {
        var profile = FiveGenerations();
        var preview = new GenerationsService.DeletePreview(SystemProfile, "+2", [1, 2], [5, 4, 3]);
        var doc = await PreviewAsync(profile, preview);

        Assert.Equal(["1", "2"], doc.QuerySelectorAll(".delete-doomed tbody tr").Select(r => r.GetAttribute("data-generation")));
        Assert.Equal(["5", "4", "3"], doc.QuerySelectorAll(".delete-kept tbody tr").Select(r => r.GetAttribute("data-generation")));
        Assert.Contains("running now", doc.QuerySelector(".delete-kept tr[data-generation='4']").Text());
        Assert.Equal("1,2", doc.QuerySelector("input[type=hidden][name='Form.Expected']")!.GetAttribute("value"));
        Assert.Equal("Delete 2 generations of web-01", doc.QuerySelector("button.confirm-delete").Text());
        Assert.StartsWith("keep the last 2 generations", doc.QuerySelector(".delete-policy").Text());
        Assert.Null(doc.QuerySelector(".alert-warning"));
    }

    [Fact]
    public async Task DeletePreview_WithNothingToDelete_HasNoDeleteButton()
    {
        var doc = await PreviewAsync(FiveGenerations(), new GenerationsService.DeletePreview(SystemProfile, "30d", [], [5, 4, 3, 2, 1]));

        Assert.Empty(doc.QuerySelectorAll(".delete-doomed tbody tr"));
        Assert.NotNull(doc.QuerySelector(".delete-nothing"));
        Assert.Null(doc.QuerySelector("button.confirm-delete"));
        Assert.StartsWith("delete generations older than 30 days", doc.QuerySelector(".delete-policy").Text());
    }

    [Fact]
    public async Task DeletePreview_ThatChangedSinceItWasShown_SaysNothingWasDeleted()
    {
        var doc = await PreviewAsync(FiveGenerations(), new GenerationsService.DeletePreview(SystemProfile, "+1", [1, 2, 3], [5, 4]), changed: true);

        Assert.Contains("nothing was deleted", doc.QuerySelector(".alert-warning").Text());
        Assert.Equal("1,2,3", doc.QuerySelector("input[name='Form.Expected']")!.GetAttribute("value"));
    }

    [Fact]
    public void Profiles_AreOrdered_SystemFirst_ThenDefault_ThenUsersByOwner()
    {
        var bob = new ProfileGenerations("/nix/var/nix/profiles/per-user/bob/profile", "bob", []);
        var alice = new ProfileGenerations("/home/alice/.local/state/nix/profiles/profile", "alice", []);
        var root = new ProfileGenerations("/nix/var/nix/profiles/default", "root", []);
        var system = System();

        Assert.Equal([system, root, alice, bob], GenerationsUi.Ordered([bob, alice, root, system]));
    }

    [Theory]
    [InlineData(null, "")]
    [InlineData(0L, "±0 B")]
    [InlineData(1536L, "+1.5 KiB")]
    [InlineData(-3145728L, "−3.0 MiB")]
    public void SizeDelta_HasASign(long? bytes, string expected) => Assert.Equal(expected, GenerationsUi.SizeDelta(bytes));
}
