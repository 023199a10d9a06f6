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
    const int WarmUpRounds = 15;
    const string Search = "web-001";      // a partial name, as typed in the search box
    const string CommonTag = "staging";   // on ~20% of the hosts
    const string RareTag = "gpu";         // on 1% of the hosts

    static readonly string[] Roles = ["web", "db", "cache", "worker", "build"];

    /// <summary>A request NixFleet serves and the SQL it runs for it, captured from its own query code.</summary>
    sealed record Case(string Name, string Path, bool Html, bool HxRequest, Func<NixFleetDb, Task> Query);

    sealed record Measured(double P50, double P95, int N);

    sealed record Captured(string Sql, NpgsqlParameter[] Parameters);

    /// <summary>One NixFleet process on its own database with a given number of hosts, and its clients.</summary>
    sealed class Side(int hosts, NixFleetApp app, NpgsqlDataSource ds, ApiClient api, HttpClient browser) : IAsyncDisposable
    {
        public int Hosts => hosts;
        public NixFleetApp App => app;
        public NpgsqlDataSource Db => ds;
        public ApiClient Api => api;
        public HttpClient Browser => browser;

        public async ValueTask DisposeAsync()
        {
            api.Dispose();
            browser.Dispose();
            await ds.DisposeAsync();
            await app.DisposeAsync();
        }
    }

    public async Task RunAsync()
    {
        // Both sizes are served at once, by two NixFleet processes on two databases, and every
        // sample is taken in turn (small, large, small floor, large floor): a busy machine slows
        // all four alike, so the ratios hold even when the absolute numbers move.
        var sw = Stopwatch.StartNew();
        var sides = await Task.WhenAll(StartSideAsync(smallCount), StartSideAsync(largeCount));
        await using var small = sides[0];
        await using var large = sides[1];
        log.WriteLine($"hosts: two NixFleet processes up and seeded ({smallCount} and {largeCount} hosts) in {Report.Ms(sw.Elapsed.TotalMilliseconds)}");

        var results = await MeasureAllAsync(small, large);

        var rows = report.Table($"Hosts list: {smallCount} vs {largeCount:N0} hosts",
            $"Two NixFleet processes side by side, one with {smallCount} and one with {largeCount:N0} hosts (each with tags, a trusted key and a latest facts row), " +
            $"requests from one client on this machine (keep-alive); {requests} samples per row, the four measurements of a row taken in turn " +
            $"and every sample round goes over all rows (after {WarmUpRounds} warm-up rounds). " +
            "API requests carry a bearer token; HTML requests the cookie from signing in through the login form. " +
            "Floor = the same SQL NixFleet runs for the request (captured from NixFleet's own HostService/EF Core query code), " +
            "issued directly through Npgsql on a pooled connection with every row read. Tables VACUUM ANALYZEd after seeding.",
            "request", $"p50 @{largeCount:N0}", $"p95 @{largeCount:N0}", $"floor p50 @{largeCount:N0}", "NixFleet / floor",
            $"p50 @{smallCount}", $"floor p50 @{smallCount}", $"scaling p50 {largeCount:N0} / {smallCount}", "matches");
        foreach (var r in results)
            rows.Add([r.Name, Report.Ms(r.Large.P50), Report.Ms(r.Large.P95), Report.Ms(r.LargeFloor.P50), Report.Ratio(r.Large.P50 / r.LargeFloor.P50),
                Report.Ms(r.Small.P50), Report.Ms(r.SmallFloor.P50), Report.Ratio(r.Large.P50 / r.Small.P50), r.Matches]);

        await ExplainAsync(large, results);
        await WhatIfAsync(large, results);
    }

    async Task<Side> StartSideAsync(int hosts)
    {
        var app = await NixFleetApp.StartAsync();
        var ds = NpgsqlDataSource.Create(app.ConnectionString);
        var api = await app.ClientAsync();
        var browser = await SignInAsync(app);
        var side = new Side(hosts, app, ds, api, browser);
        await SeedAsync(ds, 0, hosts);
        return side;
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
            new("API /api/v1/hosts/{unknown id} (bearer auth + 1 lookup, 404)", $"/api/v1/hosts/{unknown}", false, false,
                db => db.Hosts.AsNoTracking().Include(h => h.LatestFacts).FirstOrDefaultAsync(h => h.Id == unknown)),
            new("/healthz (anonymous; opens a connection)", "/healthz", false, false, db => db.Database.CanConnectAsync()),
            new($"HTML /hosts?q={Search}", $"/hosts?q={Search}", true, false, async db => { await List(db, Search, null, null, 1); await HostsUi.TagsAsync(db, CancellationToken.None); }),
            new($"htmx fragment /hosts/table?q={Search}", $"/hosts/table?q={Search}", true, true, db => List(db, Search, null, null, 1)),
        ];
    }

    async Task<List<PairResult>> MeasureAllAsync(Side small, Side large)
    {
        var results = new List<PairResult>();
        var pairs = new List<(Case Small, Case Large, List<Captured> SmallSql, List<Captured> LargeSql)>();
        foreach (var (cs, cl) in Cases(small.Hosts).Zip(Cases(large.Hosts)))
            pairs.Add((cs, cl, await CaptureAsync(small.Db, cs.Query), await CaptureAsync(large.Db, cl.Query)));
        // Everything a few times over first, in turn (warm-up, not measured): JIT (up to the optimized tier, which .NET
        // compiles in the background after ~30 calls) in both NixFleet processes and in this one,
        // EF Core's query cache, Razor, connection pools; so that this work does not land on
        // whichever row is measured first.
        for (var round = 0; round < WarmUpRounds; round++)
            foreach (var p in pairs)
            {
                await RequestAsync(small, p.Small);
                await RequestAsync(large, p.Large);
                await FloorAsync(small.Db, p.SmallSql);
                await FloorAsync(large.Db, p.LargeSql);
            }
        // Then round-robin: every sample round goes over all rows, so a load that changes during the
        // run (other work on the machine) spreads over every row instead of landing on a few.
        var samples = pairs.Select(_ => Enumerable.Range(0, 4).Select(_ => new List<double>(requests)).ToArray()).ToList();
        for (var i = 0; i < requests; i++)
            for (var k = 0; k < pairs.Count; k++)
            {
                var (cs, cl, sqlSmall, sqlLarge) = pairs[k];
                samples[k][0].Add(await RequestAsync(small, cs));
                samples[k][1].Add(await RequestAsync(large, cl));
                samples[k][2].Add(await FloorAsync(small.Db, sqlSmall));
                samples[k][3].Add(await FloorAsync(large.Db, sqlLarge));
            }
        for (var k = 0; k < pairs.Count; k++)
        {
            var (_, cl, _, sqlLarge) = pairs[k];
            var t = samples[k];
            var r = new PairResult(cl.Name, cl, M(t[0]), M(t[1]), M(t[2]), M(t[3]), await MatchesAsync(large, cl), sqlLarge);
            log.WriteLine($"hosts: {r.Name}: @{large.Hosts} p50 {Report.Ms(r.Large.P50)} (floor {Report.Ms(r.LargeFloor.P50)}), @{small.Hosts} p50 {Report.Ms(r.Small.P50)} (floor {Report.Ms(r.SmallFloor.P50)}); matches {r.Matches}");
            results.Add(r);
        }
        return results;
    }

    static Measured M(List<double> times) => new(Stats.Percentile(times, 50), Stats.Percentile(times, 95), times.Count);

    sealed record PairResult(string Name, Case Case, Measured Small, Measured Large, Measured SmallFloor, Measured LargeFloor, string Matches, List<Captured> Sql);

    static async Task<string> MatchesAsync(Side side, Case c)
    {
        if (c.Html || !c.Path.StartsWith("/api/v1/hosts", StringComparison.Ordinal)) return "-";
        using var response = await side.Api.Http.GetAsync(c.Path);
        if (response.StatusCode != HttpStatusCode.OK) return "-";
        var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        return json.TryGetProperty("total", out var t) ? t.GetInt32().ToString("N0", CultureInfo.InvariantCulture) : "-";
    }

    static async Task<double> RequestAsync(Side side, Case c)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, c.Path);
        if (c.HxRequest) request.Headers.Add("HX-Request", "true");
        var client = c.Html ? side.Browser : side.Api.Http;
        var sw = Stopwatch.StartNew();
        using var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsByteArrayAsync();
        sw.Stop();
        var expected = c.Path.StartsWith("/api/v1/hosts/", StringComparison.Ordinal) && !c.Path.Contains('?') ? HttpStatusCode.NotFound : HttpStatusCode.OK;
        if (response.StatusCode != expected)
            throw new InvalidOperationException($"GET {c.Path}: {(int)response.StatusCode} {Encoding.UTF8.GetString(body)[..Math.Min(300, body.Length)]}");
        return sw.Elapsed.TotalMilliseconds;
    }

    static async Task<double> FloorAsync(NpgsqlDataSource ds, List<Captured> sql)
    {
        if (sql.Count == 0) return double.NaN; // nothing to compare with (/healthz only opens a connection)
        var sw = Stopwatch.StartNew();
        await using (var conn = await ds.OpenConnectionAsync())
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
        return sw.Elapsed.TotalMilliseconds;
    }

    /// <summary>Runs NixFleet's own query code against the database and records the SQL it sends.</summary>
    static async Task<List<Captured>> CaptureAsync(NpgsqlDataSource ds, Func<NixFleetDb, Task> query)
    {
        var capture = new CaptureInterceptor();
        var options = new DbContextOptionsBuilder<NixFleetDb>().UseNpgsql(ds).AddInterceptors(capture).Options;
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
    static async Task SeedAsync(NpgsqlDataSource ds, int from, int to)
    {
        var rng = new Random(42 + from);
        var now = DateTimeOffset.UtcNow;
        var ids = new Guid[to - from];
        await using var conn = await ds.OpenConnectionAsync();
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
            "UPDATE hosts h SET \"LatestFactsId\" = f.\"Id\" FROM host_facts f WHERE f.\"HostId\" = h.\"Id\" AND h.\"LatestFactsId\" IS NULL", conn))
            await cmd.ExecuteNonQueryAsync();
        // The steady state of a database autovacuum has seen: statistics, visibility map (index-only
        // scans), no vacuum starting in the middle of the measurements.
        foreach (var table in new[] { "hosts", "host_facts" })
        {
            await using var vacuum = new NpgsqlCommand($"VACUUM ANALYZE {table}", conn);
            await vacuum.ExecuteNonQueryAsync();
        }
    }

    /// <summary>EXPLAIN ANALYZE of the SQL behind each request at the large size: which scans, which indexes.</summary>
    async Task ExplainAsync(Side large, List<PairResult> results)
    {
        var sb = new StringBuilder();
        var findings = new List<string>();
        foreach (var r in results)
        {
            sb.AppendLine($"-- {r.Name}");
            foreach (var s in r.Sql)
            {
                var plan = await ExplainAsync(large.Db, s.Sql, s.Parameters);
                sb.AppendLine("   " + Short(s.Sql));
                foreach (var line in Summarize(plan)) sb.AppendLine("     " + line);
                foreach (var line in plan.Where(l => l.Contains("Seq Scan on hosts", StringComparison.Ordinal)))
                    findings.Add($"{r.Name}: {CostPart().Replace(line.Trim(), "")}  <-  {Short(s.Sql)[..Math.Min(110, Short(s.Sql).Length)]}");
                if (r.Case.Path.Contains("tag=", StringComparison.Ordinal) && s.Sql.Contains("Tags", StringComparison.Ordinal))
                    findings.Add($"{r.Name}: GIN index IX_hosts_Tags {(plan.Any(l => l.Contains("IX_hosts_Tags", StringComparison.Ordinal)) ? "used" : "NOT used")}  <-  {Short(s.Sql)[..Math.Min(110, Short(s.Sql).Length)]}");
            }
        }
        report.Note($"Query plans at {largeCount:N0} hosts (EXPLAIN ANALYZE of the captured SQL; scan and sort nodes only; column lists shortened)", sb.ToString());
        report.Note($"Index use at {largeCount:N0} hosts (from the plans above)", string.Join('\n', findings.Distinct()));
    }

    static async Task<List<string>> ExplainAsync(NpgsqlDataSource ds, string sql, IEnumerable<NpgsqlParameter> parameters)
    {
        await using var conn = await ds.OpenConnectionAsync();
        await using var cmd = new NpgsqlCommand("EXPLAIN (ANALYZE, BUFFERS OFF) " + sql, conn);
        cmd.Parameters.AddRange(parameters.Select(p => p.Clone()).ToArray());
        var lines = new List<string>();
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync()) lines.Add(reader.GetString(0));
        return lines;
    }

    /// <summary>Median server-side execution time (EXPLAIN ANALYZE) of a request's statements, summed.</summary>
    static async Task<double> ServerMsAsync(NpgsqlDataSource ds, List<Captured> sql, int runs = 7)
    {
        var totals = new List<double>();
        for (var i = 0; i < runs; i++)
        {
            double total = 0;
            foreach (var s in sql)
            {
                var plan = await ExplainAsync(ds, s.Sql, s.Parameters);
                total += ParseExecutionMs(plan);
            }
            totals.Add(total);
        }
        return Stats.Median(totals);
    }

    static double ParseExecutionMs(List<string> plan) =>
        plan.FirstOrDefault(l => l.StartsWith("Execution Time: ", StringComparison.Ordinal)) is { } line
            ? double.Parse(line["Execution Time: ".Length..].Replace(" ms", ""), CultureInfo.InvariantCulture) : double.NaN;

    static IEnumerable<string> Summarize(List<string> plan) =>
        plan.Where(l => l.Contains("Scan", StringComparison.Ordinal) || l.Contains("Sort", StringComparison.Ordinal) || l.Contains("Filter:", StringComparison.Ordinal)
                || l.Contains("Index Cond", StringComparison.Ordinal) || l.Contains("Recheck Cond", StringComparison.Ordinal) || l.StartsWith("Execution Time", StringComparison.Ordinal))
            .Select(l => CostPart().Replace(l.TrimEnd(), ""));

    [GeneratedRegex(@"  \(cost=[^)]*\)")] private static partial Regex CostPart();
    [GeneratedRegex(@"\s+")] private static partial Regex Spaces();
    [GeneratedRegex(@"SELECT (?:[a-z0-9]+\.""\w+"", )+[a-z0-9]+\.""\w+"" FROM")] private static partial Regex ColumnList();

    static string Short(string sql) => ColumnList().Replace(Spaces().Replace(sql, " ").Trim(), "SELECT <columns> FROM");

    /// <summary>
    /// What indexes would change, measured in the large side's throwaway database only (src/ is not
    /// touched): pg_trgm GIN indexes for the ILIKE search, a btree matching the lastSeen sort.
    /// </summary>
    async Task WhatIfAsync(Side large, List<PairResult> results)
    {
        var affected = results.Where(r => r.Case.Path.Contains("q=", StringComparison.Ordinal) || r.Case.Path.Contains("-lastSeen", StringComparison.Ordinal)).ToList();
        var before = new Dictionary<string, double>();
        foreach (var r in affected) before[r.Name] = await ServerMsAsync(large.Db, r.Sql);

        await using (var conn = await large.Db.OpenConnectionAsync())
        await using (var cmd = new NpgsqlCommand(
            "CREATE EXTENSION IF NOT EXISTS pg_trgm; " +
            "CREATE INDEX bench_hosts_name_trgm ON hosts USING gin (\"Name\" gin_trgm_ops); " +
            "CREATE INDEX bench_hosts_address_trgm ON hosts USING gin (\"Address\" gin_trgm_ops); " +
            "CREATE INDEX bench_hosts_lastseen ON hosts (\"LastSeenAt\" DESC, \"Name\"); ANALYZE hosts;", conn))
            await cmd.ExecuteNonQueryAsync();

        var rows = report.Table($"What if: indexes added to the bench's throwaway database ({largeCount:N0} hosts)",
            "NixFleet's code unchanged; the same requests after `CREATE EXTENSION pg_trgm`, GIN trigram indexes on hosts.Name and hosts.Address, " +
            "and a btree on hosts (LastSeenAt DESC, Name). SQL time = median server-side execution time (EXPLAIN ANALYZE) of the request's statements. " +
            $"p50 after: {Math.Min(requests, 50)} requests measured alone after the main run (not interleaved), so compare it loosely.",
            "request", "SQL time before", "SQL time after", "p50 before", "p50 after", "scans after");
        foreach (var r in affected)
        {
            var after = await ServerMsAsync(large.Db, r.Sql);
            var times = new List<double>();
            for (var i = 0; i < 5 + Math.Min(requests, 50); i++)
            {
                var t = await RequestAsync(large, r.Case);
                if (i >= 5) times.Add(t);
            }
            var plan = new List<string>();
            foreach (var s in r.Sql) plan.AddRange(Summarize(await ExplainAsync(large.Db, s.Sql, s.Parameters)).Where(l => l.Contains("Scan", StringComparison.Ordinal)).Select(l => ActualPart().Replace(l.Trim().TrimStart('-', '>', ' '), "")));
            rows.Add([r.Name, Report.Ms(before[r.Name]), Report.Ms(after), Report.Ms(r.Large.P50), Report.Ms(Stats.Median(times)), string.Join("; ", plan.Distinct())]);
            log.WriteLine($"hosts: what-if {r.Name}: SQL {Report.Ms(before[r.Name])} -> {Report.Ms(after)}, p50 {Report.Ms(r.Large.P50)} -> {Report.Ms(Stats.Median(times))}");
        }
    }

    [GeneratedRegex(@" \(actual[^)]*\)")] private static partial Regex ActualPart();
}
