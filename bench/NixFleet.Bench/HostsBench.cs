using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;
using NixFleet.Testing;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Hosts;
using Npgsql;
using NpgsqlTypes;

namespace NixFleet.Bench;

/// <summary>
/// Benchmark 2: the hosts list with 100 and with 10,000 hosts (seeded straight into the database),
/// through the API and the HTML page, next to the same SQL issued directly through Npgsql.
/// </summary>
public sealed partial class HostsBench(Report report, TextWriter log, int smallCount, int largeCount, int requests)
{
    const int WarmUp = 15;
    const string Search = "web-001";      // a partial name, as typed in the search box
    const string CommonTag = "staging";   // on ~20% of the hosts
    const string RareTag = "gpu";         // on 1% of the hosts

    static readonly string[] Roles = ["web", "db", "cache", "worker", "build"];

    NpgsqlDataSource _ds = null!;

    /// <summary>A request NixFleet serves and the SQL it runs for it, captured from its own query code.</summary>
    sealed record Case(string Name, string Path, bool Html, bool HxRequest, Func<NixFleetDb, Task> Query);

    sealed record Measured(double P50, double P95, int N);

    sealed record CaseResult(Case Case, Measured App, Measured Floor, string Matches, List<Captured> Sql);

    sealed record Captured(string Sql, NpgsqlParameter[] Parameters);

    public async Task RunAsync()
    {
        await using var app = await NixFleetApp.StartAsync();
        _ds = NpgsqlDataSource.Create(app.ConnectionString);
        try
        {
            using var api = await app.ClientAsync();
            using var browser = await SignInAsync(app);

            var sw = Stopwatch.StartNew();
            await SeedAsync(0, smallCount);
            log.WriteLine($"hosts: seeded {smallCount} hosts in {Report.Ms(sw.Elapsed.TotalMilliseconds)}");
            var small = await MeasureAllAsync(api, browser, smallCount);

            sw.Restart();
            await SeedAsync(smallCount, largeCount);
            log.WriteLine($"hosts: seeded up to {largeCount} hosts in {Report.Ms(sw.Elapsed.TotalMilliseconds)}");
            var large = await MeasureAllAsync(api, browser, largeCount);

            var rows = report.Table($"Hosts list: {smallCount} vs {largeCount:N0} hosts",
                $"Sequential requests from one client on this machine (keep-alive), p50/p95 over {requests} after {WarmUp} warm-up requests. " +
                "API requests carry a bearer token; HTML requests the cookie from signing in through the login form. " +
                "Floor = the same SQL NixFleet runs for the request (captured from NixFleet's own HostService/EF Core query code), " +
                "issued directly through Npgsql on a pooled connection with every row read. Tables ANALYZEd after seeding.",
                "request", $"p50 @{smallCount}", $"p50 @{largeCount:N0}", $"p95 @{largeCount:N0}", $"floor p50 @{largeCount:N0}",
                "NixFleet / floor", $"scaling p50 {largeCount / 1000}k / {smallCount}", "matches", "floor p50 @" + smallCount);
            foreach (var (s, l) in small.Zip(large))
                rows.Add([l.Case.Name, Report.Ms(s.App.P50), Report.Ms(l.App.P50), Report.Ms(l.App.P95), Report.Ms(l.Floor.P50),
                    Report.Ratio(l.App.P50 / l.Floor.P50), Report.Ratio(l.App.P50 / s.App.P50), l.Matches, Report.Ms(s.Floor.P50)]);

            await ExplainAsync(large);
            await WhatIfAsync(api, large);
        }
        finally
        {
            await _ds.DisposeAsync();
        }
    }

    List<Case> Cases(int total)
    {
        var lastPage = Math.Max(1, (total + HostsQuery.PageSize - 1) / HostsQuery.PageSize);
        HostService Service(NixFleetDb db) => new(db, null!, null!, NullLogger<HostService>.Instance);
        Task List(NixFleetDb db, string? q, string? tag, string? sort, int page) => Service(db).ListAsync(new(q, tag, sort, page, HostsQuery.PageSize), CancellationToken.None);
        var unknown = Guid.NewGuid();
        return
        [
            new("API /api/v1/hosts (page 1, by name)", "/api/v1/hosts", false, false, db => List(db, null, null, null, 1)),
            new($"API /api/v1/hosts?page={lastPage} (last page)", $"/api/v1/hosts?page={lastPage}", false, false, db => List(db, null, null, null, lastPage)),
            new($"API /api/v1/hosts?q={Search}", $"/api/v1/hosts?q={Search}", false, false, db => List(db, Search, null, null, 1)),
            new($"API /api/v1/hosts?tag={RareTag} (1%)", $"/api/v1/hosts?tag={RareTag}", false, false, db => List(db, null, RareTag, null, 1)),
            new($"API /api/v1/hosts?tag={CommonTag} (20%)", $"/api/v1/hosts?tag={CommonTag}", false, false, db => List(db, null, CommonTag, null, 1)),
            new("API /api/v1/hosts?sort=-lastSeen", "/api/v1/hosts?sort=-lastSeen", false, false, db => List(db, null, null, "-lastSeen", 1)),
            new("API /api/v1/hosts/{unknown id} (fixed cost: auth + 1 lookup)", $"/api/v1/hosts/{unknown}", false, false,
                db => db.Hosts.AsNoTracking().Include(h => h.LatestFacts).FirstOrDefaultAsync(h => h.Id == unknown)),
            new("HTML /hosts (page 1)", "/hosts", true, false, async db => { await List(db, null, null, null, 1); await HostsUi.TagsAsync(db, CancellationToken.None); }),
            new($"HTML /hosts?q={Search}", $"/hosts?q={Search}", true, false, async db => { await List(db, Search, null, null, 1); await HostsUi.TagsAsync(db, CancellationToken.None); }),
            new($"htmx fragment /hosts/table?q={Search}", $"/hosts/table?q={Search}", true, true, db => List(db, Search, null, null, 1)),
        ];
    }

    async Task<List<CaseResult>> MeasureAllAsync(ApiClient api, HttpClient browser, int total)
    {
        var results = new List<CaseResult>();
        foreach (var c in Cases(total))
        {
            var sql = await CaptureAsync(c.Query);
            var client = c.Html ? browser : api.Http;
            var matches = "-";
            if (!c.Html)
            {
                var response = await client.GetAsync(c.Path);
                var body = await response.Content.ReadAsStringAsync();
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    var json = JsonDocument.Parse(body).RootElement;
                    if (json.TryGetProperty("total", out var t)) matches = t.GetInt32().ToString("N0", CultureInfo.InvariantCulture);
                }
                else if (response.StatusCode != HttpStatusCode.NotFound) throw new InvalidOperationException($"GET {c.Path}: {(int)response.StatusCode} {body}");
            }
            var appTimes = await TimeRequestsAsync(client, c);
            var floor = await TimeFloorAsync(sql);
            log.WriteLine($"hosts: @{total} {c.Name}: p50 {Report.Ms(appTimes.P50)}, p95 {Report.Ms(appTimes.P95)}; floor p50 {Report.Ms(floor.P50)} ({sql.Count} statement(s)); matches {matches}");
            results.Add(new CaseResult(c, appTimes, floor, matches, sql));
        }
        return results;
    }

    async Task<Measured> TimeRequestsAsync(HttpClient client, Case c)
    {
        var times = new List<double>(requests);
        for (var i = 0; i < WarmUp + requests; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, c.Path);
            if (c.HxRequest) request.Headers.Add("HX-Request", "true");
            var sw = Stopwatch.StartNew();
            using var response = await client.SendAsync(request);
            var body = await response.Content.ReadAsByteArrayAsync();
            sw.Stop();
            var expected = c.Path.StartsWith("/api/v1/hosts/", StringComparison.Ordinal) && !c.Path.Contains('?') ? HttpStatusCode.NotFound : HttpStatusCode.OK;
            if (response.StatusCode != expected)
                throw new InvalidOperationException($"GET {c.Path}: {(int)response.StatusCode} {Encoding.UTF8.GetString(body)[..Math.Min(300, body.Length)]}");
            if (i >= WarmUp) times.Add(sw.Elapsed.TotalMilliseconds);
        }
        return new Measured(Stats.Percentile(times, 50), Stats.Percentile(times, 95), times.Count);
    }

    async Task<Measured> TimeFloorAsync(List<Captured> sql)
    {
        var times = new List<double>(requests);
        for (var i = 0; i < WarmUp + requests; i++)
        {
            var sw = Stopwatch.StartNew();
            await using (var conn = await _ds.OpenConnectionAsync())
            {
                foreach (var s in sql)
                {
                    await using var cmd = new NpgsqlCommand(s.Sql, conn);
                    cmd.Parameters.AddRange(s.Parameters.Select(p => p.Clone()).ToArray());
                    await using var reader = await cmd.ExecuteReaderAsync();
                    var values = new object[reader.FieldCount];
                    while (await reader.ReadAsync()) reader.GetValues(values);
                }
            }
            sw.Stop();
            if (i >= WarmUp) times.Add(sw.Elapsed.TotalMilliseconds);
        }
        return new Measured(Stats.Percentile(times, 50), Stats.Percentile(times, 95), times.Count);
    }

    /// <summary>Runs NixFleet's own query code against the database and records the SQL it sends.</summary>
    async Task<List<Captured>> CaptureAsync(Func<NixFleetDb, Task> query)
    {
        var capture = new CaptureInterceptor();
        var options = new DbContextOptionsBuilder<NixFleetDb>().UseNpgsql(_ds).AddInterceptors(capture).Options;
        await using var db = new NixFleetDb(options);
        await query(db);
        return capture.Commands;
    }

    sealed class CaptureInterceptor : DbCommandInterceptor
    {
        public List<Captured> Commands { get; } = [];

        void Record(DbCommand command) =>
            Commands.Add(new Captured(command.CommandText, command.Parameters.Cast<NpgsqlParameter>().Select(p => p.Clone()).ToArray()));

        public override ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
        {
            Record(command);
            return base.ReaderExecutingAsync(command, eventData, result, cancellationToken);
        }

        public override ValueTask<InterceptionResult<object>> ScalarExecutingAsync(DbCommand command, CommandEventData eventData, InterceptionResult<object> result, CancellationToken cancellationToken = default)
        {
            Record(command);
            return base.ScalarExecutingAsync(command, eventData, result, cancellationToken);
        }
    }

    /// <summary>Signs in the way a browser does: GET the login form, POST it with its antiforgery token, keep the cookie.</summary>
    static async Task<HttpClient> SignInAsync(NixFleetApp app)
    {
        var handler = new HttpClientHandler { CookieContainer = new CookieContainer(), UseCookies = true, AllowAutoRedirect = false };
        var http = new HttpClient(handler) { BaseAddress = new Uri(app.BaseUrl), Timeout = TimeSpan.FromSeconds(60) };
        var form = await http.GetStringAsync("/login");
        var input = InputTag().Matches(form).Select(m => m.Value).FirstOrDefault(t => t.Contains("__RequestVerificationToken", StringComparison.Ordinal))
            ?? throw new InvalidOperationException("the login page has no antiforgery token");
        var token = WebUtility.HtmlDecode(ValueAttribute().Match(input).Groups[1].Value);
        using var post = await http.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["Email"] = NixFleetApp.AdminEmail,
            ["Password"] = NixFleetApp.AdminPassword,
            ["ReturnUrl"] = "/hosts",
            ["__RequestVerificationToken"] = token,
        }));
        if (post.StatusCode != HttpStatusCode.Redirect || post.Headers.Location?.OriginalString != "/hosts")
            throw new InvalidOperationException($"sign-in through the login form failed: {(int)post.StatusCode} {post.Headers.Location}");
        using var check = await http.GetAsync("/hosts");
        if (check.StatusCode != HttpStatusCode.OK) throw new InvalidOperationException($"GET /hosts after sign-in: {(int)check.StatusCode}");
        return http;
    }

    [GeneratedRegex("<input[^>]*>")] private static partial Regex InputTag();
    [GeneratedRegex("value=\"([^\"]*)\"")] private static partial Regex ValueAttribute();

    /// <summary>Hosts [from, to) with tags, a trusted key and one facts row each, by COPY; then ANALYZE.</summary>
    async Task SeedAsync(int from, int to)
    {
        var rng = new Random(42 + from);
        var now = DateTimeOffset.UtcNow;
        var ids = new Guid[to - from];
        await using var conn = await _ds.OpenConnectionAsync();
        await using (var w = await conn.BeginBinaryImportAsync(
            "COPY hosts (\"Id\", \"Name\", \"Address\", \"Port\", \"User\", \"Tags\", \"CreatedAt\", \"HostKeyStatus\", \"TrustedKeyType\", \"TrustedKey\", " +
            "\"ScannedKeyType\", \"ScannedKey\", \"ScannedFingerprint\", \"TrustedFingerprint\", \"Reachable\", \"LastError\", \"LastSeenAt\") FROM STDIN (FORMAT BINARY)"))
        {
            for (var i = from; i < to; i++)
            {
                var id = ids[i - from] = Guid.NewGuid();
                var role = Roles[i % Roles.Length];
                var dc = $"dc{i % 4 + 1}";
                var env = (i % 10) switch { < 7 => "prod", < 9 => "staging", _ => "dev" };
                var tags = new List<string> { role, env, dc };
                if (i % 100 == 7) tags.Add("gpu");
                tags.Sort(StringComparer.Ordinal);
                var blob = Convert.ToBase64String([0, 0, 0, 11, .. "ssh-ed25519"u8, 0, 0, 0, 32, .. RandomNumberGenerator.GetBytes(32)]);
                var fingerprint = SshHostKeys.Fingerprint(blob);
                var unreachable = rng.Next(100) < 3;
                w.StartRow();
                w.Write(id, NpgsqlDbType.Uuid);
                w.Write($"{role}-{i:D5}.{dc}.example.net", NpgsqlDbType.Varchar);
                w.Write($"10.{i % 4 + 1}.{i / 250 % 256}.{i % 250 + 1}", NpgsqlDbType.Varchar);
                w.Write(22, NpgsqlDbType.Integer);
                w.Write("root", NpgsqlDbType.Varchar);
                w.Write(tags.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text);
                w.Write(now.AddDays(-30).AddMinutes(i).UtcDateTime, NpgsqlDbType.TimestampTz);
                w.Write(HostKeyStatus.Trusted, NpgsqlDbType.Text);
                w.Write("ssh-ed25519", NpgsqlDbType.Text);
                w.Write(blob, NpgsqlDbType.Text);
                w.Write("ssh-ed25519", NpgsqlDbType.Text);
                w.Write(blob, NpgsqlDbType.Text);
                w.Write(fingerprint, NpgsqlDbType.Text);
                w.Write(fingerprint, NpgsqlDbType.Text);
                w.Write(!unreachable, NpgsqlDbType.Boolean);
                if (unreachable) w.Write($"{role}-{i:D5}: ssh: connect to host 10.{i % 4 + 1}.{i / 250 % 256}.{i % 250 + 1} port 22: Connection timed out", NpgsqlDbType.Text);
                else w.WriteNull();
                w.Write(now.AddSeconds(-rng.Next(0, 7 * 24 * 3600)).UtcDateTime, NpgsqlDbType.TimestampTz);
            }
            await w.CompleteAsync();
        }

        await using (var w = await conn.BeginBinaryImportAsync(
            "COPY host_facts (\"HostId\", \"CollectedAt\", \"Os\", \"OsVersion\", \"IsNixOS\", \"NixVersion\", \"InstallType\", \"StoreOwner\", \"CurrentGeneration\", " +
            "\"CurrentGenerationProfile\", \"CurrentSystemPath\", \"KernelVersion\", \"StoreSizeBytes\", \"DiskFreeBytes\", \"Channels\") FROM STDIN (FORMAT BINARY)"))
        {
            for (var i = from; i < to; i++)
            {
                var nixos = i % 10 == 3;
                var multi = nixos || i % 3 != 0;
                var hash = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
                w.StartRow();
                w.Write(ids[i - from], NpgsqlDbType.Uuid);
                w.Write(now.AddMinutes(-rng.Next(0, 600)).UtcDateTime, NpgsqlDbType.TimestampTz);
                w.Write(nixos ? "NixOS" : "Debian GNU/Linux", NpgsqlDbType.Text);
                w.Write(nixos ? "24.05" : "12", NpgsqlDbType.Text);
                w.Write(nixos, NpgsqlDbType.Boolean);
                w.Write(nixos ? "2.18.1" : "2.8.0", NpgsqlDbType.Text);
                w.Write(multi ? NixInstallType.MultiUser : NixInstallType.SingleUser, NpgsqlDbType.Text);
                w.Write(multi ? "root" : "alice", NpgsqlDbType.Text);
                w.Write(rng.Next(1, 300), NpgsqlDbType.Integer);
                w.Write(nixos ? "/nix/var/nix/profiles/system" : multi ? "/nix/var/nix/profiles/default" : "/home/alice/.nix-profile", NpgsqlDbType.Text);
                if (nixos) w.Write($"/nix/store/{hash}-nixos-system-host{i}-24.05.1234.abcdef0", NpgsqlDbType.Text); else w.WriteNull();
                w.Write("6.1.0-28-amd64", NpgsqlDbType.Text);
                w.Write((long)rng.Next(1, 80) << 28, NpgsqlDbType.Bigint);
                w.Write((long)rng.Next(1, 400) << 28, NpgsqlDbType.Bigint);
                w.Write($$"""[{"Name":"nixpkgs","Url":"https://nixos.org/channels/nixpkgs-unstable","User":"{{(multi ? "root" : "alice")}}"}]""", NpgsqlDbType.Jsonb);
            }
            await w.CompleteAsync();
        }

        await using (var cmd = new NpgsqlCommand(
            "UPDATE hosts h SET \"LatestFactsId\" = f.\"Id\" FROM host_facts f WHERE f.\"HostId\" = h.\"Id\" AND h.\"LatestFactsId\" IS NULL; ANALYZE hosts; ANALYZE host_facts;", conn))
            await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>EXPLAIN ANALYZE of the SQL behind each request at the large size: which scans, which indexes.</summary>
    async Task ExplainAsync(List<CaseResult> large)
    {
        var sb = new StringBuilder();
        var findings = new List<string>();
        foreach (var r in large)
        {
            sb.AppendLine($"-- {r.Case.Name}");
            foreach (var s in r.Sql)
            {
                var plan = await ExplainAsync(s.Sql, s.Parameters);
                sb.AppendLine("   " + OneLine(s.Sql));
                foreach (var line in Summarize(plan)) sb.AppendLine("     " + line);
                foreach (var line in plan.Where(l => l.Contains("Seq Scan on hosts", StringComparison.Ordinal)))
                    findings.Add($"{r.Case.Name}: {line.Trim()} ({OneLine(s.Sql)[..Math.Min(90, OneLine(s.Sql).Length)]}...)");
            }
        }
        report.Note($"Query plans at {largeCount:N0} hosts (EXPLAIN ANALYZE of the captured SQL; scan and sort nodes only)", sb.ToString());
        if (findings.Count > 0) report.Note("Sequential scans of hosts at " + largeCount.ToString("N0", CultureInfo.InvariantCulture), string.Join('\n', findings.Distinct()));
    }

    async Task<List<string>> ExplainAsync(string sql, IEnumerable<NpgsqlParameter> parameters)
    {
        await using var conn = await _ds.OpenConnectionAsync();
        await using var cmd = new NpgsqlCommand("EXPLAIN (ANALYZE, BUFFERS OFF) " + sql, conn);
        cmd.Parameters.AddRange(parameters.Select(p => p.Clone()).ToArray());
        var lines = new List<string>();
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync()) lines.Add(reader.GetString(0));
        return lines;
    }

    static IEnumerable<string> Summarize(List<string> plan) =>
        plan.Where(l => l.Contains("Scan", StringComparison.Ordinal) || l.Contains("Sort", StringComparison.Ordinal) || l.Contains("Filter:", StringComparison.Ordinal)
                || l.Contains("Index Cond", StringComparison.Ordinal) || l.Contains("Recheck Cond", StringComparison.Ordinal) || l.StartsWith("Execution Time", StringComparison.Ordinal))
            .Select(l => CostPart().Replace(l.TrimEnd(), ""));

    [GeneratedRegex(@"  \(cost=[^)]*\)")] private static partial Regex CostPart();
    [GeneratedRegex(@"\s+")] private static partial Regex Spaces();

    static string OneLine(string sql) => Spaces().Replace(sql, " ").Trim();

    /// <summary>
    /// What indexes would change, measured in this throwaway database only (src/ is not touched):
    /// pg_trgm for the ILIKE search, a btree for the lastSeen sort, and the GIN-able form of the tag filter.
    /// </summary>
    async Task WhatIfAsync(ApiClient api, List<CaseResult> large)
    {
        var rows = report.Table($"What if (indexes added to the bench's throwaway database only, {largeCount:N0} hosts)",
            "NixFleet's code unchanged; the same requests after `CREATE EXTENSION pg_trgm` with GIN trigram indexes on hosts.Name and hosts.Address, " +
            "and a btree index on hosts.LastSeenAt. The tag row EXPLAINs `Tags @> ARRAY[tag]` (what the GIN index on Tags can serve) against the SQL NixFleet sends.",
            "request", "p50 before", "p50 after", "after / before", "plan after");
        await using (var conn = await _ds.OpenConnectionAsync())
        await using (var cmd = new NpgsqlCommand(
            "CREATE EXTENSION IF NOT EXISTS pg_trgm; " +
            "CREATE INDEX bench_hosts_name_trgm ON hosts USING gin (\"Name\" gin_trgm_ops); " +
            "CREATE INDEX bench_hosts_address_trgm ON hosts USING gin (\"Address\" gin_trgm_ops); " +
            "CREATE INDEX bench_hosts_lastseen ON hosts (\"LastSeenAt\" DESC NULLS LAST, \"Name\"); ANALYZE hosts;", conn))
            await cmd.ExecuteNonQueryAsync();

        foreach (var r in large.Where(r => r.Case.Path.Contains("q=", StringComparison.Ordinal) && !r.Case.Html || r.Case.Path.Contains("-lastSeen", StringComparison.Ordinal)))
        {
            var after = await TimeRequestsAsync(api.Http, r.Case);
            var plan = new List<string>();
            foreach (var s in r.Sql) plan.AddRange(Summarize(await ExplainAsync(s.Sql, s.Parameters)).Where(l => l.Contains("Scan", StringComparison.Ordinal)).Select(l => l.Trim()));
            rows.Add([r.Case.Name, Report.Ms(r.App.P50), Report.Ms(after.P50), Report.Ratio(after.P50 / r.App.P50), string.Join("; ", plan.Distinct())]);
            log.WriteLine($"hosts: what-if {r.Case.Name}: p50 {Report.Ms(r.App.P50)} -> {Report.Ms(after.P50)}");
        }

        // The tag filter as NixFleet sends it, next to the form the GIN index on Tags serves.
        var tagCase = large.First(r => r.Case.Path.EndsWith("tag=" + RareTag, StringComparison.Ordinal));
        var countSql = tagCase.Sql[0];
        var asSent = Summarize(await ExplainAsync(countSql.Sql, countSql.Parameters)).ToList();
        var containment = Summarize(await ExplainAsync($"SELECT count(*)::int FROM hosts AS h WHERE h.\"Tags\" @> ARRAY['{RareTag}']::text[]", [])).ToList();
        rows.Add([$"count for tag={RareTag}: SQL as sent vs `Tags @> ARRAY['{RareTag}']`",
            ExecTime(asSent), ExecTime(containment), Report.Ratio(ParseMs(ExecTime(containment)) / ParseMs(ExecTime(asSent))),
            "as sent: " + string.Join("; ", asSent.Where(l => l.Contains("Scan", StringComparison.Ordinal)).Select(l => l.Trim())) +
            " | with @>: " + string.Join("; ", containment.Where(l => l.Contains("Scan", StringComparison.Ordinal)).Select(l => l.Trim()))]);
    }

    static string ExecTime(List<string> plan) =>
        plan.FirstOrDefault(l => l.StartsWith("Execution Time", StringComparison.Ordinal))?.Replace("Execution Time: ", "").Replace(" ms", "") is { } ms
            ? Report.Ms(double.Parse(ms, CultureInfo.InvariantCulture)) + " (server)" : "-";

    static double ParseMs(string text)
    {
        var m = Regex.Match(text, @"^([0-9.]+) (ms|s)");
        if (!m.Success) return double.NaN;
        var v = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        return m.Groups[2].Value == "s" ? v * 1000 : v;
    }
}
