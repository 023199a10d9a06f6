using System.Globalization;
using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Nix;

/// <summary>
/// The store maintenance parsers on Nix 2.8's real output (Fixtures/nix-2.8, captured from the
/// test hosts in the order of its README) and on the lines newer Nix and Lix versions print
/// (Fixtures/nix-newer, rendered from their source; the *.cases.tsv files give the exact inputs).
/// </summary>
public class StoreOutputFixtureTests
{
    private const string Garbage1MiB = "/nix/store/n48zyk4ip4wckayafnr7sr2xs36mkwmg-nixfleet-garbage-1MiB";
    private const string Hello = "/nix/store/cm30d6x2r2kxm4f3zy97di9c52crj052-hello-1.0";
    private const string ExpectedHash = "sha256:0ngjw5la3i05adkwhsd4q3x0r52qlvbkmyidibrkcxyifbkhjnfg";
    private const string ActualHash = "sha256:0nk5f4vd8ws3v49bl35afhr9mvijn354x9mh1xmwwq5z8n5x9p2b";
    private const string Env1 = "/nix/store/qj8lcyf6x1xpjk62j1iz13ljmx1v4qjw-user-environment";
    private const string Env2 = "/nix/store/g1x8lq83ad9ll07qrzqx2lqdp87n1vx4-user-environment";
    private const string Channels = "/nix/store/i8f61xdf7i3vilskfrzl6wnya3bqzy7y-user-environment";

    // ---- nix-store --gc and nix-collect-garbage (Nix 2.8) ----

    [Fact]
    public void NixStoreGc_OneGarbagePath_OnePathAndOneMebibyte()
    {
        var stdout = Nix28("nix-store-gc.alice.single.out.txt");

        Assert.Equal(new GcSummary(1, 1048576), StoreOutput.ParseGcSummary(stdout));
        Assert.Equal("1.00 MiB", StoreOutput.GcSummarySize(stdout));
        Assert.Equal(5243, StoreOutput.Rounding(StoreOutput.GcSummarySize(stdout)!));
    }

    [Fact]
    public void NixStoreGc_Stderr_ListsTheDeletedPathAndHasNoSummary()
    {
        var stderr = Nix28("nix-store-gc.alice.single.err.txt");

        Assert.Equal([Garbage1MiB], StoreOutput.DeletedPaths(stderr));
        // "note: currently hard linking saves -0.00 MiB" is not a summary.
        Assert.Null(StoreOutput.ParseGcSummary(stderr));
        Assert.Null(StoreOutput.GcSummarySize(stderr));
    }

    [Fact]
    public void PrintDead_BeforeTheGc_ListsExactlyWhatTheGcThenDeleted()
    {
        var dead = StoreOutput.StorePaths(Nix28("nix-store-gc-print-dead.alice.single.out.txt"));

        Assert.Equal([Garbage1MiB], dead);
        Assert.Equal(dead, StoreOutput.DeletedPaths(Nix28("nix-store-gc.alice.single.err.txt")));
    }

    [Fact]
    public void PrintDead_Stderr_HasNoPathsAndNoSummary()
    {
        var stderr = Nix28("nix-store-gc-print-dead.alice.single.err.txt");

        // The "removing stale link from '…' to '…'" lines name no store path to delete.
        Assert.Empty(StoreOutput.StorePaths(stderr));
        Assert.Empty(StoreOutput.DeletedPaths(stderr));
        Assert.Null(StoreOutput.ParseGcSummary(Nix28("nix-store-gc-print-dead.alice.single.out.txt")));
    }

    [Fact]
    public void NixStoreGc_NothingToDelete_ZeroPathsZeroBytes()
    {
        Assert.Equal(new GcSummary(0, 0), StoreOutput.ParseGcSummary(Nix28("nix-store-gc.nothing.single.out.txt")));
        Assert.Empty(StoreOutput.DeletedPaths(Nix28("nix-store-gc.nothing.single.err.txt")));
    }

    [Fact]
    public void NixCollectGarbageD_ElevenPathsDeletedEachNamedOnStderr()
    {
        var summary = StoreOutput.ParseGcSummary(Nix28("nix-collect-garbage-d.alice.single.out.txt"));
        var deleted = StoreOutput.DeletedPaths(Nix28("nix-collect-garbage-d.alice.single.err.txt"));

        Assert.Equal(new GcSummary(11, 0), summary);
        Assert.Equal(summary!.PathsDeleted, deleted.Count);
        Assert.Equal(Env1, deleted[0]);
        Assert.Equal(Hello, deleted[9]);
        Assert.Equal("/nix/store/fsci45xq2ysc3dnbsj3qb27i2pbh57al-hello-1.0.drv", deleted[^1]);
        Assert.Equal(deleted.Count, deleted.Distinct().Count());
        Assert.All(deleted, p => Assert.True(GenerationsParser.IsStorePath(p), p));
    }

    [Fact]
    public void NixCollectGarbageDDryRun_PrintsNoSummaryAndDeletesNothing()
    {
        var stderr = Nix28("nix-collect-garbage-d-dry-run.alice.single.err.txt");

        Assert.Null(StoreOutput.ParseGcSummary(stderr));
        Assert.Empty(StoreOutput.DeletedPaths(stderr));
    }

    [Fact]
    public void NixStoreGcMaxFreed_StopsAfterTheOneMebibytePath()
    {
        Assert.Equal(new GcSummary(1, 1048576), StoreOutput.ParseGcSummary(Nix28("nix-store-gc-max-freed.multi.out.txt")));
        Assert.Equal([Garbage1MiB], StoreOutput.DeletedPaths(Nix28("nix-store-gc-max-freed.multi.err.txt")));
    }

    // ---- nix-store --optimise (Nix 2.8) ----

    [Theory]
    [InlineData("nix-store-optimise.alice.single.err.txt", 11)]
    [InlineData("nix-store-optimise.again.single.err.txt", 0)]
    public void NixStoreOptimise_ReadsFilesLinkedAndBytesFreed(string file, int filesLinked) =>
        Assert.Equal(new OptimiseSummary(0, filesLinked), StoreOutput.ParseOptimise(Nix28(file)));

    // ---- nix-store --verify (Nix 2.8) ----

    [Fact]
    public void Verify_CleanStore_FindsNothing()
    {
        var report = StoreOutput.ParseVerify(Nix28("nix-store-verify.clean.multi.err.txt"));

        Assert.Empty(report.Corrupted);
        Assert.Empty(report.Missing);
        Assert.Empty(report.Errors);
        Assert.False(report.RepairAttempted);
        Assert.False(report.NotAllFixed);
    }

    [Theory]
    [InlineData("nix-2.8", "nix-store-verify.corrupted.multi.err.txt")]
    [InlineData("nix-newer", "verify.check-contents.modified.nix-2.8-plus.err.txt")]
    [InlineData("nix-newer", "verify.check-contents.modified.nix-2.3.err.txt")]
    public void Verify_ModifiedPath_IsCorruptedWithBothHashesAndNotFixed(string directory, string file)
    {
        var report = StoreOutput.ParseVerify(Read(directory, file));

        Assert.Equal([new CorruptPath(Hello, ExpectedHash, ActualHash)], report.Corrupted);
        Assert.Empty(report.Missing);
        Assert.Empty(report.Errors);
        Assert.False(report.RepairAttempted);
        Assert.True(report.NotAllFixed);
    }

    [Theory]
    [InlineData("nix-2.8", "nix-store-verify-path.corrupted.multi.err.txt")]
    [InlineData("nix-newer", "verify-path.modified.nix-2.8-plus.err.txt")]
    public void VerifyPath_ModifiedPath_IsTheOnlyFinding(string directory, string file)
    {
        var report = StoreOutput.ParseVerify(Read(directory, file));

        Assert.Equal([new CorruptPath(Hello, ExpectedHash, ActualHash)], report.Corrupted);
        Assert.False(report.NotAllFixed);
    }

    [Fact]
    public void VerifyRepair_RebuiltFromItsDerivation_RepairAttemptedAndAllFixed()
    {
        var report = StoreOutput.ParseVerify(Nix28("nix-store-verify-repair.corrupted.multi.err.txt"));

        // "path '…' is corrupted or missing!" comes from the rebuild, not a second finding.
        Assert.Equal([new CorruptPath(Hello, ExpectedHash, ActualHash)], report.Corrupted);
        Assert.Empty(report.Missing);
        Assert.True(report.RepairAttempted);
        Assert.False(report.NotAllFixed);
        Assert.Empty(report.Errors);
    }

    [Fact]
    public void VerifyRepair_CannotRepairModifiedPath_SaysWhyAndNotAllFixed()
    {
        var report = StoreOutput.ParseVerify(Newer("verify.repair-cannot-repair.nix-2.8-plus.err.txt"));

        Assert.Equal([new CorruptPath(Hello, ExpectedHash, ActualHash)], report.Corrupted);
        Assert.Equal([$"error: cannot repair path '{Hello}'"], report.Errors);
        Assert.False(report.RepairAttempted);
        Assert.True(report.NotAllFixed);
    }

    [Fact]
    public void Verify_DisappearedWithNoReferrers_NixDropsItAndItIsNoFinding()
    {
        // Exit 0: Nix removes the row from its database; nothing is broken.
        var report = StoreOutput.ParseVerify(Newer("verify.disappeared.nix-2.8-plus.err.txt"));

        Assert.Empty(report.Missing);
        Assert.Empty(report.Corrupted);
        Assert.Empty(report.Errors);
        Assert.False(report.NotAllFixed);
    }

    [Fact]
    public void Verify_DisappearedWithReferrers_IsMissingAndNotFixed()
    {
        var report = StoreOutput.ParseVerify(Newer("verify.disappeared-with-referrers.nix-2.8-plus.err.txt"));

        Assert.Equal([Hello], report.Missing);
        Assert.Empty(report.Corrupted);
        Assert.Empty(report.Errors);
        Assert.True(report.NotAllFixed);
    }

    [Fact]
    public void VerifyRepair_DisappearedWithReferrersCannotRepair_KeepsNixsReason()
    {
        var report = StoreOutput.ParseVerify(Newer("verify.disappeared-with-referrers.repair.nix-2.8-plus.err.txt"));

        Assert.Equal([Hello], report.Missing);
        Assert.Equal([$"warning: cannot repair path '{Hello}'"], report.Errors);
        Assert.False(report.RepairAttempted);
        Assert.True(report.NotAllFixed);
    }

    // ---- --print-roots, --requisites (Nix 2.8) ----

    [Fact]
    public void PrintRoots_EveryTargetOnceInTheOrderFirstListed()
    {
        var stdout = Nix28("nix-store-print-roots.multi.out.txt");

        Assert.Equal([Env1, Env2, Channels], StoreOutput.RootTargets(stdout, []));
        Assert.Empty(StoreOutput.RootTargets(Nix28("nix-store-print-roots.multi.err.txt"), []));
    }

    [Fact]
    public void PrintRoots_ExceptLinks_DropsATargetOnlyWhenNoOtherRootKeepsIt()
    {
        var stdout = Nix28("nix-store-print-roots.multi.out.txt");

        // alice's profile-1-link still holds Env1.
        Assert.Equal([Env2, Env1, Channels], StoreOutput.RootTargets(stdout, ["/nix/var/nix/profiles/default-1-link"]));
        Assert.Equal(
            [Env2, Channels],
            StoreOutput.RootTargets(stdout, ["/nix/var/nix/profiles/default-1-link", "/nix/var/nix/profiles/per-user/alice/profile-1-link"]));
        // A link must match whole: "profile-1" is not "profile-1-link".
        Assert.Contains(Env1, StoreOutput.RootTargets(stdout, ["/nix/var/nix/profiles/default-1", "/nix/var/nix/profiles/per-user/alice/profile-1"]));
    }

    [Fact]
    public void Requisites_SystemClosure_EveryLineIsAPathInOrder()
    {
        var paths = StoreOutput.StorePaths(Nix28("nix-store-q-requisites.system.nixos.out.txt"));

        Assert.Equal(5, paths.Count);
        Assert.Equal("/nix/store/bdw27vi1ifm2s6rd9wr6fccbn73fg80v-cowsay-2.1", paths[0]);
        Assert.Equal("/nix/store/f4z04v5i7avm5ly0xf8a8qvwwbzg3m5p-nixos-system-nixos1-24.05.1234.abcdef0", paths[^1]);
    }

    // ---- newer versions: GC summary (Fixtures/nix-newer/gc-summary.*) ----

    public static TheoryData<int, long, string, string> GcSummaryCases() => Cases("gc-summary.cases.tsv", 4);

    [Theory]
    [MemberData(nameof(GcSummaryCases))]
    public void GcSummary_EveryRenderer_CountExactAndBytesWithinRounding(int paths, long bytesFreed, string showBytesLine, string renderSizeLine)
    {
        foreach (var line in new[] { showBytesLine, renderSizeLine })
        {
            var summary = StoreOutput.ParseGcSummary(line + "\n");
            var size = StoreOutput.GcSummarySize(line);

            Assert.NotNull(summary);
            Assert.NotNull(size);
            Assert.Equal(paths, summary.PathsDeleted);
            AssertWithinRounding(bytesFreed, summary.BytesFreed, size, line);
        }
    }

    [Theory]
    [InlineData("gc-summary.nix-2.3-to-2.32.out.txt", 2)]
    [InlineData("gc-summary.nix-2.33-plus.out.txt", 3)]
    public void GcSummaryFiles_AreTheLinesOfTheCases(string file, int column)
    {
        var lines = Newer(file).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var cases = Rows("gc-summary.cases.tsv");

        Assert.Equal(cases.Select(c => c[column]), lines);
        Assert.Equal(cases.Select(c => int.Parse(c[0], CultureInfo.InvariantCulture)), lines.Select(l => StoreOutput.ParseGcSummary(l)!.PathsDeleted));
    }

    [Fact]
    public void GcSummary_Renderers_PickTheUnitAsDocumented()
    {
        Assert.Equal(1048576, StoreOutput.ParseGcSummary("1 store paths deleted, 1024.0 KiB freed")!.BytesFreed);
        Assert.Equal(1049600, StoreOutput.ParseGcSummary("1 store paths deleted, 1025.0 KiB freed")!.BytesFreed);
        Assert.Equal(52, StoreOutput.Rounding("1025.0 KiB"));
        Assert.Equal(53687092, StoreOutput.Rounding("5.7 GiB"));
        Assert.Equal(54975581389, StoreOutput.Rounding("1.1 TiB"));
    }

    [Fact]
    public void GcSummary_Lix291_ShowBytesOnStdout()
    {
        var lines = Newer("gc-summary.lix-2.91.out.txt").Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Equal(
            [new GcSummary(0, 0), new GcSummary(12, 3586130), new GcSummary(2670, 0)],
            lines.Select(l => StoreOutput.ParseGcSummary(l)));
    }

    [Fact]
    public void GcSummary_LixNotice_IsReadFromStderrDespiteTheEmptyLineAfterIt()
    {
        var stderr = Newer("gc-summary.lix-notice.err.txt");

        Assert.Equal(new GcSummary(12, 3586130), StoreOutput.ParseGcSummary(stderr));
        Assert.Equal("3.42 MiB", StoreOutput.GcSummarySize(stderr));
    }

    [Theory]
    [InlineData("gc-dry-run.nix-2.34-plus.out.txt")]
    [InlineData("gc-dry-run.nix-2.34-plus.err.txt")]
    [InlineData("gc-dry-run.lix-notice.err.txt")]
    public void GcDryRun_WouldBeDeleted_IsNoSummary(string file)
    {
        var text = Newer(file);

        Assert.Null(StoreOutput.ParseGcSummary(text));
        Assert.Null(StoreOutput.GcSummarySize(text));
        Assert.Empty(StoreOutput.DeletedPaths(text));
    }

    // ---- newer versions: hard-linking note and optimise summary ----

    public static TheoryData<long, string, string> HardlinkNoteCases() => Cases3("gc-hardlink-note.cases.tsv");

    [Theory]
    [MemberData(nameof(HardlinkNoteCases))]
    public void HardlinkNote_SizeWithinRoundingEvenNegative_AndNeverASummary(long bytesSaved, string oldLine, string newLine)
    {
        foreach (var (line, prefix) in new[] { (oldLine, "note: currently hard linking saves "), (newLine, "note: hard linking is currently saving ") })
        {
            Assert.StartsWith(prefix, line, StringComparison.Ordinal);
            var size = line[prefix.Length..];
            var parsed = StoreOutput.ParseSize(size);

            Assert.NotNull(parsed);
            AssertWithinRounding(bytesSaved, parsed.Value, size, line);
            Assert.Null(StoreOutput.ParseGcSummary(line));
            Assert.Null(StoreOutput.ParseOptimise(line));
        }
    }

    public static TheoryData<int, long, string, string> OptimiseCases() => Cases("optimise-summary.cases.tsv", 4);

    [Theory]
    [MemberData(nameof(OptimiseCases))]
    public void OptimiseSummary_EveryRenderer_FilesExactAndBytesWithinRounding(int files, long bytesFreed, string showBytesLine, string renderSizeLine)
    {
        foreach (var line in new[] { showBytesLine, renderSizeLine })
        {
            var summary = StoreOutput.ParseOptimise(line);
            var size = line[..line.IndexOf(" freed by", StringComparison.Ordinal)];

            Assert.NotNull(summary);
            Assert.Equal(files, summary.FilesLinked);
            AssertWithinRounding(bytesFreed, summary.BytesFreed, size, line);
        }
    }

    [Theory]
    [InlineData("optimise-summary.nix-2.3-to-2.32.err.txt", 2)]
    [InlineData("optimise-summary.nix-2.33-plus.err.txt", 3)]
    public void OptimiseFiles_AreTheLinesOfTheCases(string file, int column) =>
        Assert.Equal(Rows("optimise-summary.cases.tsv").Select(c => c[column]), Newer(file).Split('\n', StringSplitOptions.RemoveEmptyEntries));

    [Theory]
    [InlineData("gc-summary.cases.tsv", 12)]
    [InlineData("gc-hardlink-note.cases.tsv", 4)]
    [InlineData("optimise-summary.cases.tsv", 5)]
    public void CaseFiles_HaveEveryRow(string file, int rows) =>
        Assert.Equal(rows, Rows(file).Count);

    private static void AssertWithinRounding(long expected, long actual, string sizeText, string line)
    {
        var rounding = StoreOutput.Rounding(sizeText);
        Assert.True(rounding > 0, $"no rounding for '{sizeText}'");
        Assert.True(Math.Abs(actual - expected) <= rounding, $"'{line}': parsed {actual}, true {expected}, allowed ±{rounding}");
    }

    private static TheoryData<int, long, string, string> Cases(string file, int columns)
    {
        var data = new TheoryData<int, long, string, string>();
        foreach (var row in Rows(file))
        {
            Assert.Equal(columns, row.Length);
            data.Add(int.Parse(row[0], CultureInfo.InvariantCulture), long.Parse(row[1], CultureInfo.InvariantCulture), row[2], row[3]);
        }

        return data;
    }

    private static TheoryData<long, string, string> Cases3(string file)
    {
        var data = new TheoryData<long, string, string>();
        foreach (var row in Rows(file))
        {
            data.Add(long.Parse(row[0], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture), row[1], row[2]);
        }

        return data;
    }

    // The rows of a *.cases.tsv, without its header.
    private static List<string[]> Rows(string file) =>
        Newer(file).Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(l => l.Split('\t')).ToList();

    private static string Nix28(string name) => Read("nix-2.8", name);

    private static string Newer(string name) => Read("nix-newer", name);

    private static string Read(string directory, string name) => File.ReadAllText(TestContext.FixturePath(directory, name));
}
