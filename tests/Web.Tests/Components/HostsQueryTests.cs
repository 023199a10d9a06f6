using NixFleet.Web.Features.Hosts;

namespace NixFleet.Web.Tests.Components;

public sealed class HostsQueryTests
{
    [Theory]
    [InlineData(null, null)]
    [InlineData("name", null)]
    [InlineData("-name", "-name")]
    [InlineData("lastSeen", "lastSeen")]
    [InlineData("-status", "-status")]
    [InlineData("password", null)]
    [InlineData("-;drop", null)]
    public void From_KeepsOnlyKnownSorts(string? sort, string? expected) =>
        Assert.Equal(expected, HostsQuery.From(null, null, sort, null).Sort);

    [Fact]
    public void From_TrimsAndDropsEmptyValues_AndClampsThePage()
    {
        var q = HostsQuery.From("  web  ", " ", null, -4);
        Assert.Equal("web", q.Q);
        Assert.Null(q.Tag);
        Assert.Equal(1, q.Page);
    }

    [Fact]
    public void SortBy_TogglesTheActiveColumn_AndGoesBackToPageOne()
    {
        var q = new HostsQuery(Page: 4);
        Assert.Equal("-name", q.SortBy("name").Sort);
        Assert.Null(q.SortBy("name").SortBy("name").Sort);
        Assert.Equal("lastSeen", q.SortBy("lastSeen").Sort);
        Assert.Equal("-lastSeen", q.SortBy("lastSeen").SortBy("lastSeen").Sort);
        Assert.Equal(1, q.SortBy("address").Page);
    }

    [Fact]
    public void Urls_EscapeValues()
    {
        var q = new HostsQuery("a&b=c", "x y");
        Assert.Equal("/hosts?q=a%26b%3Dc&tag=x%20y", q.PageUrl);
        Assert.Equal("/hosts/table?q=a%26b%3Dc&tag=x%20y", q.FragmentUrl);
    }
}
