using System.Text.Json;
using Npgsql;

namespace NixFleet.Web.Tests.Fleet;

/// <summary>
/// Nothing is lost and nothing runs twice: two web nodes on one database, a node killed mid-way,
/// a database restart mid-way, a host lost mid-way.
/// </summary>
[Collection(FleetCollection.Name)]
public sealed class ResilienceTests(FleetAppFixture fixture) : IClassFixture<FleetAppFixture>
{
    readonly TestFleet _fleet = fixture.Fleet;

    // A big store makes `du` slow; this makes a refresh take long enough to interrupt.
    async Task SlowDownRefreshAsync(string host, int seconds) =>
        await _fleet.ShAsync(host, $"printf '#!/bin/sh\\nsleep {seconds}\\nexec /usr/bin/du \"$@\"\\n' > /usr/local/bin/du && chmod 755 /usr/local/bin/du");

    Task RestoreRefreshAsync(string host) => _fleet.ShAsync(host, "rm -f /usr/local/bin/du");

    static async Task<JsonElement> WaitForStatusAsync(ApiClient api, Guid id, string status, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var op = await api.GetJsonAsync($"/api/v1/operations/{id}");
            if (op.GetProperty("status").GetString() == status) return op;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"operation {id} never became {status}: {op}");
            await Task.Delay(200);
        }
    }

    [Fact]
    public async Task TwoWebProcesses_OnOneDatabase_RunEachOperationExactlyOnce()
    {
        var a = fixture.App;
        await using var b = await NixFleetApp.StartAsync(a.ConnectionString);
        using var apiB = await b.ClientAsync();
        var id = await fixture.Admin.AddTrustedHostAsync("twice-multi", _fleet.Host("multi").Address);

        var ops = new List<Guid>();
        for (var i = 0; i < 8; i++) ops.Add(await (i % 2 == 0 ? fixture.Admin : apiB).RefreshAsync(id));
        foreach (var op in ops)
        {
            var done = await fixture.Admin.WaitForOperationAsync(op);
            Assert.Equal("succeeded", done.GetProperty("status").GetString());
            Assert.Equal(1, done.GetProperty("attempt").GetInt32());
            var log = await fixture.Admin.LogTextAsync(op);
            Assert.Single(log.Split('\n'), l => l.Contains("collecting facts"));
        }
        // Each operation stored exactly one facts row: none ran twice.
        Assert.Equal(ops.Count, (await fixture.Admin.GetJsonAsync($"/api/v1/hosts/{id}/facts")).GetArrayLength());
    }

    [Fact]
    public async Task LiveOutput_StreamsToAClientOfAnotherNode_InOrder_AndEndsWithTheStatus()
    {
        await using var b = await NixFleetApp.StartAsync(fixture.App.ConnectionString);
        using var apiB = await b.ClientAsync();
        var h = _fleet.Named("victim1");
        var id = await fixture.Admin.AddTrustedHostAsync("streamed", h.Address);
        await SlowDownRefreshAsync(h.Name, 3);
        try
        {
            // Started on node A, watched from node B while it runs.
            var op = await fixture.Admin.RefreshAsync(id);
            using var response = await apiB.Http.GetAsync($"/api/v1/operations/{op}/stream", HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            var events = new List<(string Event, string Data, string? Id)>();
            string? evt = null, data = null, eventId = null;
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            while (await reader.ReadLineAsync(timeout.Token) is { } line)
            {
                if (line.StartsWith("event: ")) evt = line[7..];
                else if (line.StartsWith("data: ")) data = line[6..];
                else if (line.StartsWith("id: ")) eventId = line[4..];
                else if (line == "" && evt is not null)
                {
                    events.Add((evt, data ?? "", eventId));
                    if (evt == "end") break;
                    evt = data = eventId = null;
                }
            }

            Assert.Equal(("end", "succeeded"), (events[^1].Event, events[^1].Data));
            var streamed = events.Where(e => e.Event == "line").Select(e => JsonDocument.Parse(e.Data).RootElement).ToList();
            Assert.Equal(Enumerable.Range(1, streamed.Count), streamed.Select(l => l.GetProperty("seq").GetInt32()));
            Assert.Equal(events.Where(e => e.Event == "line").Select(e => e.Id), streamed.Select(l => l.GetProperty("seq").GetInt32().ToString()));
            var stored = await fixture.Admin.LogTextAsync(op);
            Assert.Equal(stored, string.Join("\n", streamed.Select(l => l.GetProperty("text").GetString())));
            Assert.Contains(events, e => e.Event == "status" && e.Data.Contains("\"running\""));
        }
        finally
        {
            await RestoreRefreshAsync(h.Name);
        }
    }

    [Fact]
    public async Task WebProcessKilledMidOperation_IsRecoveredAndEndsTruthfully()
    {
        var h = _fleet.Named("victim1");
        await SlowDownRefreshAsync(h.Name, 8);
        try
        {
            // The only node on its database, so that it is the one running the job when it is killed.
            var database = await TestPostgres.NewDatabaseAsync();
            var doomed = await NixFleetApp.StartAsync(database);
            Guid id, op;
            using (var api = await doomed.ClientAsync())
            {
                await api.ImportKeyAsync(_fleet.PrivateKey);
                id = await api.AddTrustedHostAsync("killed-node", h.Address);
                op = await api.RefreshAsync(id);
                await WaitForStatusAsync(api, op, "running", TimeSpan.FromSeconds(30));
            }
            await doomed.KillAsync();
            await doomed.DisposeAsync();

            // Restarted, NixFleet notices the dead instance's missed check-ins and runs its job again.
            await using var restarted = await NixFleetApp.StartAsync(database);
            using var survivor = await restarted.ClientAsync();
            var done = await survivor.WaitForOperationAsync(op, TimeSpan.FromSeconds(120));

            Assert.Equal("succeeded", done.GetProperty("status").GetString());
            Assert.Equal(2, done.GetProperty("attempt").GetInt32());
            Assert.Contains("takes it over", await survivor.LogTextAsync(op));
            Assert.Single((await survivor.GetJsonAsync($"/api/v1/hosts/{id}/facts")).EnumerateArray());
        }
        finally
        {
            await RestoreRefreshAsync(h.Name);
        }
    }

    [Fact]
    public async Task DatabaseRestartMidOperation_LosesNoOutputAndEndsTruthfully()
    {
        var cluster = await TestPostgres.PrivateClusterAsync("restart", "nixfleet");
        try
        {
            await using var app = await NixFleetApp.StartAsync(cluster.ConnectionString("nixfleet"));
            using var api = await app.ClientAsync();
            await api.ImportKeyAsync(_fleet.PrivateKey);
            var h = _fleet.Named("victim1");
            var id = await api.AddTrustedHostAsync("db-restart", h.Address);
            await SlowDownRefreshAsync(h.Name, 6);
            try
            {
                var op = await api.RefreshAsync(id);
                await WaitForStatusAsync(api, op, "running", TimeSpan.FromSeconds(30));
                await cluster.StopAsync(CancellationToken.None);
                await Task.Delay(TimeSpan.FromSeconds(8));
                await cluster.StartAsync("nixfleet", CancellationToken.None);

                var done = await api.WaitForOperationAsync(op, TimeSpan.FromSeconds(180));

                Assert.True(done.GetProperty("status").GetString() == "succeeded", $"{done}\n{await api.LogTextAsync(op)}\n{app.Output[^Math.Min(4000, app.Output.Length)..]}");
                var lines = (await api.GetJsonAsync($"/api/v1/operations/{op}/log")).EnumerateArray().Select(l => l.GetProperty("seq").GetInt32()).ToList();
                Assert.Equal(Enumerable.Range(1, lines.Count), lines);
                Assert.Contains("db-restart: Debian", await api.LogTextAsync(op));
            }
            finally
            {
                await RestoreRefreshAsync(h.Name);
            }
        }
        finally
        {
            await cluster.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task HostLostMidOperation_FailsWithTheReason_AndIsMarkedUnreachable()
    {
        var h = _fleet.Named("victim1");
        var id = await fixture.Admin.AddTrustedHostAsync("lost-host", h.Address);
        await SlowDownRefreshAsync(h.Name, 20);
        try
        {
            var op = await fixture.Admin.RefreshAsync(id);
            await WaitForStatusAsync(fixture.Admin, op, "running", TimeSpan.FromSeconds(30));
            await Task.Delay(1500);
            await _fleet.StopHostAsync(h.Name);

            var done = await fixture.Admin.WaitForOperationAsync(op, TimeSpan.FromSeconds(90));

            Assert.Equal("failed", done.GetProperty("status").GetString());
            var error = done.GetProperty("error").GetString()!;
            Assert.Matches("lost|closed|reset|refused|timed out", error);
            var host = await fixture.Admin.GetJsonAsync($"/api/v1/hosts/{id}");
            Assert.False(host.GetProperty("reachable").GetBoolean());
        }
        finally
        {
            await _fleet.StartHostAsync(h.Name);
        }
    }
}
