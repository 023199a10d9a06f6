using NixFleet.Web.Components;
using NixFleet.Web.Data;

namespace NixFleet.Web.Tests.Components;

public sealed class BadgeTests
{
    [Theory]
    [InlineData(OperationStatus.Queued, "bg-secondary-lt", "Queued")]
    [InlineData(OperationStatus.Running, "bg-blue", "Running")]
    [InlineData(OperationStatus.Reconciling, "bg-yellow", "Reconciling")]
    [InlineData(OperationStatus.Succeeded, "bg-green", "Succeeded")]
    [InlineData(OperationStatus.Failed, "bg-red", "Failed")]
    [InlineData(OperationStatus.Cancelled, "bg-orange-lt", "Cancelled")]
    public async Task StatusBadge_HasOneColourPerStatus(string status, string cssClass, string label)
    {
        var doc = await Html.RenderAsync<StatusBadge>(new() { [nameof(StatusBadge.Status)] = status });
        var badge = doc.QuerySelector(".status-badge")!;
        Assert.Contains(cssClass, badge.ClassList);
        Assert.Equal(label, badge.Text());
        Assert.Equal(status, badge.GetAttribute("data-status"));
    }

    [Fact]
    public async Task StatusBadge_Running_ShowsASpinner()
    {
        var running = await Html.RenderAsync<StatusBadge>(new() { [nameof(StatusBadge.Status)] = OperationStatus.Running });
        var done = await Html.RenderAsync<StatusBadge>(new() { [nameof(StatusBadge.Status)] = OperationStatus.Succeeded });
        Assert.NotNull(running.QuerySelector(".spinner-border"));
        Assert.Null(done.QuerySelector(".spinner-border"));
    }

    [Fact]
    public async Task StatusBadge_Reconciling_IsAmber_WithASpinner_AndSaysWhatItDoes()
    {
        var doc = await Html.RenderAsync<StatusBadge>(new() { [nameof(StatusBadge.Status)] = OperationStatus.Reconciling });
        var badge = doc.QuerySelector(".status-badge")!;
        Assert.Contains("bg-yellow", badge.ClassList);
        Assert.NotNull(badge.QuerySelector(".spinner-border"));
        Assert.Contains("reading back the host's real state", badge.GetAttribute("title"));
    }

    [Theory]
    [InlineData(HostKeyStatus.Trusted, "bg-green-lt", "Trusted")]
    [InlineData(HostKeyStatus.Unverified, "bg-yellow-lt", "Not verified")]
    [InlineData(HostKeyStatus.Changed, "bg-red", "CHANGED")]
    public async Task HostKeyBadge_NamesTheStatus(string status, string cssClass, string label)
    {
        var doc = await Html.RenderAsync<HostKeyBadge>(new() { [nameof(HostKeyBadge.Status)] = status });
        var badge = doc.QuerySelector(".hostkey-badge")!;
        Assert.Contains(cssClass, badge.ClassList);
        Assert.Equal(label, badge.Text());
    }

    [Theory]
    [InlineData(true, "Reachable", "bg-green-lt")]
    [InlineData(false, "Unreachable", "bg-red-lt")]
    [InlineData(null, "Not checked", "bg-secondary-lt")]
    public async Task ReachableBadge_ShowsThreeStates(bool? reachable, string label, string cssClass)
    {
        var doc = await Html.RenderAsync<ReachableBadge>(new() { [nameof(ReachableBadge.Reachable)] = reachable });
        var badge = doc.QuerySelector(".reachable-badge")!;
        Assert.Equal(label, badge.Text());
        Assert.Contains(cssClass, badge.ClassList);
    }
}
