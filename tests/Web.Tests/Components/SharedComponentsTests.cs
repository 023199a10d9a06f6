using NixFleet.Web.Components;
using NixFleet.Web.Features.Accounts;
using NixFleet.Web.Features.Hosts;

namespace NixFleet.Web.Tests.Components;

public sealed class SharedComponentsTests
{
    [Fact]
    public async Task Pager_ShowsTheFirstTheLastAndTheNeighbours_WithGaps()
    {
        var doc = await Html.RenderAsync<Pager>(new()
        {
            [nameof(Pager.Page)] = 10,
            [nameof(Pager.PageSize)] = 50,
            [nameof(Pager.Total)] = 10_000,
            [nameof(Pager.Href)] = (Func<int, string>)(p => $"/x?page={p}"),
        });
        var items = doc.QuerySelectorAll(".pagination .page-item").Select(i => i.Text()).ToList();
        Assert.Equal(["Previous", "1", "…", "8", "9", "10", "11", "12", "…", "200", "Next"], items);
        Assert.Equal("/x?page=11", doc.QuerySelector("a[rel=next]")!.GetAttribute("href"));
        Assert.False(doc.QuerySelector("a[rel=next]")!.HasAttribute("hx-get"));
    }

    [Fact]
    public async Task Pager_OnThePage1_DisablesPrevious()
    {
        var doc = await Html.RenderAsync<Pager>(new()
        {
            [nameof(Pager.Page)] = 1,
            [nameof(Pager.Total)] = 120,
            [nameof(Pager.Href)] = (Func<int, string>)(p => $"/x?page={p}"),
        });
        Assert.Contains("disabled", doc.QuerySelector("a[rel=prev]")!.ParentElement!.ClassList);
        Assert.Contains("1–50 of 120", doc.QuerySelector(".pager")!.TextContent);
    }

    [Fact]
    public async Task FieldError_ShowsTheMessagesOfItsFieldOnly()
    {
        var errors = new Dictionary<string, string[]> { ["name"] = ["A name is required."], ["port"] = ["Bad port."] };
        var doc = await Html.RenderAsync<FieldError>(new() { [nameof(FieldError.Field)] = "name", [nameof(FieldError.Errors)] = errors });
        Assert.Equal(["A name is required."], doc.QuerySelectorAll(".invalid-feedback").Select(e => e.Text()));
        Assert.Equal("form-control is-invalid", FieldError.InputClass(errors, "port"));
        Assert.Equal("form-control", FieldError.InputClass(errors, "user"));
    }

    [Theory]
    [InlineData(null, "—")]
    [InlineData(512L, "512 B")]
    [InlineData(1536L, "1.5 KiB")]
    [InlineData(5L << 30, "5.0 GiB")]
    public void Bytes_ReadLikeAPerson(long? bytes, string expected) => Assert.Equal(expected, Format.Bytes(bytes));

    [Fact]
    public void Duration_RunsToNowWhileUnfinished()
    {
        var start = Fakes.Now.AddSeconds(-90);
        Assert.Equal("1 min 30 s", Format.Duration(start, null, Fakes.Now));
        Assert.Equal("2.5 s", Format.Duration(start, start.AddMilliseconds(2500), Fakes.Now));
        Assert.Equal("—", Format.Duration(null, null, Fakes.Now));
    }

    [Theory]
    [InlineData("/hosts", true)]
    [InlineData("/", true)]
    [InlineData("//evil.example", false)]
    [InlineData("/\\evil.example", false)]
    [InlineData("https://evil.example", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void LoginReturnUrl_OnlyStaysOnThisSite(string? url, bool local) => Assert.Equal(local, AccountsUi.IsLocal(url));

    [Fact]
    public void AddHost_SplitsTagsOnSpacesAndCommas() =>
        Assert.Equal(["web", "prod", "eu-1"], AddHostPage.SplitTags(" web, prod  eu-1 ,"));
}
