using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Nix;

/// <summary>The store output parsers on the edges: garbage, empty text, CRLF, units, forms real Nix rarely prints.</summary>
public class StoreOutputTests
{
    private const string PathA = "/nix/store/cm30d6x2r2kxm4f3zy97di9c52crj052-hello-1.0";
    private const string PathB = "/nix/store/n48zyk4ip4wckayafnr7sr2xs36mkwmg-nixfleet-garbage-1MiB";

    // ---- ParseSize / Rounding ----

    [Theory]
    [InlineData("1.00 MiB", 1048576)]
    [InlineData("1.2 GiB", 1288490189)]
    [InlineData("12.3 KiB", 12595)]
    [InlineData("0.5 KiB", 512)]
    [InlineData("512 bytes", 512)]
    [InlineData("1 byte", 1)]
    [InlineData("7 B", 7)]
    [InlineData("7", 7)]
    [InlineData("1 TiB", 1099511627776)]
    [InlineData("1.0 PiB", 1125899906842624)]
    [InlineData("1.0 EiB", 1152921504606846976)]
    [InlineData("1.00MiB", 1048576)] // Lix's release note writes it without the space
    [InlineData("  1.00 MiB \r", 1048576)]
    [InlineData("-4.0 KiB", -4096)] // the hard-linking note on a never optimised store
    [InlineData("-0.00 MiB", 0)]
    [InlineData("0.0 KiB", 0)]
    public void ParseSize_NixSizes_GivesBytes(string text, long bytes) =>
        Assert.Equal(bytes, StoreOutput.ParseSize(text));

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("MiB")]
    [InlineData("1.00 MB")] // Nix prints binary units only; a decimal unit is not guessed
    [InlineData("1.00 mib")]
    [InlineData("1,5 MiB")]
    [InlineData("1.00 ZiB")]
    [InlineData("1e3 MiB")]
    [InlineData("+1 MiB")]
    [InlineData(".5 MiB")]
    [InlineData("1. MiB")]
    [InlineData("1.5.0 MiB")]
    [InlineData("1.00 MiB freed")]
    [InlineData("١٢ MiB")] // regex \d matches Arabic-Indic digits; the number must still not read
    [InlineData("8 EiB")] // 2^63 bytes: one more than a long holds
    [InlineData("99999999999999999999 EiB")]
    [InlineData("-99999999999999999999 EiB")]
    [InlineData("999999999999999999999999999999 bytes")] // beyond decimal
    public void ParseSize_NotASizeOrTooBig_IsNullAndDoesNotThrow(string text) =>
        Assert.Null(StoreOutput.ParseSize(text));

    [Theory]
    [InlineData("1.00 MiB", 5243)]
    [InlineData("0.00 MiB", 5243)]
    [InlineData("-0.00 MiB", 5243)]
    [InlineData("1024.0 MiB", 52429)]
    [InlineData("0.0 KiB", 52)]
    [InlineData("34.5 KiB", 52)]
    [InlineData("1.1 TiB", 54975581389)]
    [InlineData("512 bytes", 1)]
    [InlineData("3 GiB", 536870912)]
    [InlineData("", 0)]
    [InlineData("garbage", 0)]
    [InlineData("1.00 MB", 0)]
    public void Rounding_IsHalfTheLastPrintedDigit(string text, long rounding) =>
        Assert.Equal(rounding, StoreOutput.Rounding(text));

    [Fact]
    public void Rounding_AbsurdlyManyDecimals_DoesNotThrow() =>
        Assert.InRange(StoreOutput.Rounding("1." + new string('0', 40) + "1 MiB"), 0, 1);

    // ---- ParseGcSummary / GcSummarySize ----

    [Theory]
    [InlineData("")]
    [InlineData("\n\n")]
    [InlineData("error: cannot connect to daemon at '/nix/var/nix/daemon-socket/socket': Connection refused\n")]
    [InlineData("store paths deleted, 1.00 MiB freed\n")]
    [InlineData("3 store paths deleted\n")]
    [InlineData("3 store paths deleted, lots freed\n")]
    [InlineData("3 store paths would be deleted\n")]
    [InlineData("warning: 3 store paths deleted, 1.00 MiB freed\n")] // not at the start of a line
    [InlineData("note: currently hard linking saves -0.00 MiB\n")]
    [InlineData("-3 store paths deleted, 1.00 MiB freed\n")]
    [InlineData("99999999999 store paths deleted, 1.00 MiB freed\n")] // more than an int: no exception
    [InlineData("١ store paths deleted, 1.00 MiB freed\n")] // \d matches it; int.Parse would throw
    public void ParseGcSummary_NoSummaryLine_IsNull(string output)
    {
        Assert.Null(StoreOutput.ParseGcSummary(output));
        Assert.Null(StoreOutput.GcSummarySize(output));
    }

    [Theory]
    [InlineData("1 store paths deleted, 1.00 MiB freed", 1, 1048576)] // Nix never uses the singular
    [InlineData("1 store path deleted, 512 bytes freed", 1, 512)]
    [InlineData("2 store paths deleted, 0.03 MiB freed", 2, 31457)]
    [InlineData("2844 store paths deleted, 5.7 GiB freed", 2844, 6120328397)]
    [InlineData("   45 store paths deleted, 541.48 MiB freed   ", 45, 567782932)]
    [InlineData("0 store paths deleted, 0.00MiB freed", 0, 0)]
    public void ParseGcSummary_SummaryLine_PathsAndBytes(string line, int paths, long bytes) =>
        Assert.Equal(new GcSummary(paths, bytes), StoreOutput.ParseGcSummary(line));

    [Fact]
    public void ParseGcSummary_CrlfAndOtherLines_FindsTheSummary()
    {
        var output = "finding garbage collector roots...\r\ndeleting garbage...\r\n3 store paths deleted, 1.20 MiB freed\r\n";

        Assert.Equal(new GcSummary(3, 1258291), StoreOutput.ParseGcSummary(output));
        Assert.Equal("1.20 MiB", StoreOutput.GcSummarySize(output));
    }

    [Fact]
    public void ParseGcSummary_LixNoticeOnStderr_ReadsTheSummaryFollowedByAnEmptyLine()
    {
        var stderr = "finding garbage collector roots...\ndeleting garbage...\ndeleting '" + PathA + "'\n12 store paths deleted, 3.42 MiB freed\n\n";

        Assert.Equal(new GcSummary(12, 3586130), StoreOutput.ParseGcSummary(stderr));
        Assert.Equal([PathA], StoreOutput.DeletedPaths(stderr));
    }

    [Fact]
    public void ParseGcSummary_TwoSummaries_TheFirstWins()
    {
        var output = "2 store paths deleted, 0.03 MiB freed\n5 store paths deleted, 1.00 MiB freed\n";

        Assert.Equal(new GcSummary(2, 31457), StoreOutput.ParseGcSummary(output));
        Assert.Equal("0.03 MiB", StoreOutput.GcSummarySize(output));
    }

    [Fact]
    public void ParseGcSummary_UnreadableSummaryThenAGoodOne_SizeTextIsTheGoodOnes()
    {
        // The size text must belong to the summary that was read, or Rounding is off.
        var output = "1 store paths deleted, 99999999999999999999 EiB freed\n2 store paths deleted, 0.03 MiB freed\n";

        Assert.Equal(new GcSummary(2, 31457), StoreOutput.ParseGcSummary(output));
        Assert.Equal("0.03 MiB", StoreOutput.GcSummarySize(output));
    }

    // ---- DeletedPaths ----

    [Fact]
    public void DeletedPaths_OnlyDeletingLinesOfStorePaths_InOrder()
    {
        var stderr = "deleting garbage...\r\n" +
            "deleting '" + PathB + "'\r\n" +
            "deleting '/tmp/nix-build-1/result'\n" +
            "  deleting '" + PathA + "'  \n" +
            "deleting unused links...\n" +
            "deleting '" + PathB + "' now\n" +
            "removing stale link from '/nix/var/nix/gcroots/auto/x' to '" + PathA + "'\n";

        Assert.Equal([PathB, PathA], StoreOutput.DeletedPaths(stderr));
    }

    [Theory]
    [InlineData("")]
    [InlineData("garbage\n\n\u0000\n")]
    [InlineData("deleting ''\n")]
    public void DeletedPaths_Nothing_IsEmpty(string stderr) =>
        Assert.Empty(StoreOutput.DeletedPaths(stderr));

    // ---- ParseOptimise ----

    [Theory]
    [InlineData("1.00 MiB freed by hard-linking 1 file", 1048576, 1)]
    [InlineData("0.00 MiB freed by hard-linking 11 files\r\n", 0, 11)]
    [InlineData("hashing...\n2.2 GiB freed by hard-linking 526651 files\n", 2362232013, 526651)]
    // A variant of unknown origin (Fixtures/nix-newer/README.md, section 4): the "this run" line counts.
    [InlineData("previously saved by hard-linking: 1.00 MiB\n0.5 KiB freed by hard-linking 2 files this run\n", 512, 2)]
    public void ParseOptimise_SummaryLine_BytesAndFiles(string output, long bytes, int files) =>
        Assert.Equal(new OptimiseSummary(bytes, files), StoreOutput.ParseOptimise(output));

    [Theory]
    [InlineData("")]
    [InlineData("error: getting status of '/nix/store/.links': Permission denied\n")]
    [InlineData("freed by hard-linking 3 files\n")]
    [InlineData("1.00 MiB freed\n")]
    [InlineData("lots freed by hard-linking 3 files\n")]
    [InlineData("1.00 MiB freed by hard-linking 99999999999 files\n")]
    [InlineData("3 store paths deleted, 1.00 MiB freed\n")]
    public void ParseOptimise_NoSummary_IsNull(string output) =>
        Assert.Null(StoreOutput.ParseOptimise(output));

    // ---- ParseVerify ----

    [Fact]
    public void ParseVerify_Empty_FindsNothing()
    {
        var report = StoreOutput.ParseVerify("");

        Assert.Equal((0, 0, 0, false, false), (report.Corrupted.Count, report.Missing.Count, report.Errors.Count, report.RepairAttempted, report.NotAllFixed));
    }

    [Fact]
    public void ParseVerify_CrlfAndRepeatedFindings_EachPathOnce()
    {
        var modified = $"path '{PathA}' was modified! expected hash 'sha256:aaa', got 'sha256:bbb'";
        var gone = $"path '{PathB}' disappeared, but it still has valid referrers!";
        var report = StoreOutput.ParseVerify($"{modified}\r\n{modified}\r\n{gone}\r\n{gone}\r\nwarning: not all store errors were fixed\r\n");

        Assert.Equal([new CorruptPath(PathA, "sha256:aaa", "sha256:bbb")], report.Corrupted);
        Assert.Equal([PathB], report.Missing);
        Assert.True(report.NotAllFixed);
    }

    [Fact]
    public void ParseVerify_Nix23Wording_NotAllErrorsFixedAndAnIoError()
    {
        var report = StoreOutput.ParseVerify(
            "reading the Nix store...\nchecking path existence...\nchecking hashes...\nerror: reading from file: Input/output error\nwarning: not all errors were fixed\n");

        Assert.Equal(["error: reading from file: Input/output error"], report.Errors);
        Assert.True(report.NotAllFixed);
        Assert.Empty(report.Corrupted);
    }

    [Fact]
    public void ParseVerify_OtherLines_AreNeitherFindingsNorErrors()
    {
        var report = StoreOutput.ParseVerify(
            "link '/nix/store/.links/0ngjw5la3i05adkwhsd4q3x0r52qlvbkmyidibrkcxyifbkhjnfg' was modified! expected hash 'sha256:a', got 'sha256:b'\n" +
            $"path '{PathB}' disappeared, removing from database...\n" +
            $"fixing missing hash on '{PathA}'\n" +
            "warning: something else\n" +
            $"path '/tmp/x' was modified! expected hash 'a', got 'b'\n" +
            "  error: indented, but still an error line\n");

        Assert.Empty(report.Corrupted);
        Assert.Empty(report.Missing);
        Assert.Equal(["error: indented, but still an error line"], report.Errors);
        Assert.False(report.RepairAttempted);
        Assert.False(report.NotAllFixed);
    }

    [Theory]
    [InlineData("repairing outputs of '/nix/store/fsci45xq2ysc3dnbsj3qb27i2pbh57al-hello-1.0.drv'...")]
    [InlineData("checking path '/nix/store/cm30d6x2r2kxm4f3zy97di9c52crj052-hello-1.0'...")]
    public void ParseVerify_RebuildActivity_IsARepairAttempt(string line) =>
        Assert.True(StoreOutput.ParseVerify(line + "\n").RepairAttempted);

    // ---- StorePaths / RootTargets ----

    [Fact]
    public void StorePaths_SkipsAnythingButWholeStorePaths()
    {
        var stdout = $"{PathA}\r\n\n  {PathB}  \n" +
            "/nix/store/short-x\n" +
            $"{PathA}/bin/hello\n" +
            "/nix/store/CM30D6X2R2KXM4F3ZY97DI9C52CRJ052-hello\n" +
            "/nix/var/nix/profiles/system-1-link\n" +
            "warning: something\n";

        Assert.Equal([PathA, PathB], StoreOutput.StorePaths(stdout));
        Assert.Empty(StoreOutput.StorePaths(""));
    }

    [Fact]
    public void RootTargets_SkipsLinesThatAreNotRootsOfStorePaths()
    {
        var stdout = "no arrow here\n" +
            $"/home/alice/result -> {PathA}\r\n" +
            "/home/alice/odd -> /tmp/not-the-store\n" +
            $"{{censored}} -> {PathB}\n" +
            $"/home/alice/a -> b/result -> {PathB}\n" +
            $"-> {PathA}\n";

        Assert.Equal([PathA, PathB], StoreOutput.RootTargets(stdout, []));
        Assert.Equal([PathB], StoreOutput.RootTargets(stdout, ["/home/alice/result"]));
        Assert.Equal([PathA, PathB], StoreOutput.RootTargets(stdout, ["{censored}"]));
        // The link is everything before the last arrow, so a link holding " -> " is still excluded whole...
        Assert.Equal([PathA], StoreOutput.RootTargets(stdout, ["{censored}", "/home/alice/a -> b/result"]));
        // ...and only whole.
        Assert.Equal([PathA, PathB], StoreOutput.RootTargets(stdout, ["{censored}", "/home/alice/a"]));
        Assert.Empty(StoreOutput.RootTargets("", []));
    }

    // ---- Numbers / DuBytes / DiskSpace ----

    [Fact]
    public void Numbers_OneNonNegativeNumberPerLine_SkipsTheRest()
    {
        var stdout = "123\r\n456\n\n abc \n-5\n 7 \n1.5\n99999999999999999999\n9223372036854775807\n";

        Assert.Equal([123L, 456L, 7L, long.MaxValue], StoreOutput.Numbers(stdout));
        Assert.Empty(StoreOutput.Numbers(""));
    }

    [Theory]
    [InlineData("123456\t/nix/store\n", 123456L)]
    [InlineData("123456\t/nix/store\r\n", 123456L)]
    [InlineData("du: cannot read directory '/nix/store/x': Permission denied\n987\t/nix/store\n", 987L)]
    [InlineData("", null)]
    [InlineData("garbage\n", null)]
    [InlineData("-5\t/nix/store\n", null)]
    public void DuBytes_FirstLineStartingWithACount(string stdout, long? bytes) =>
        Assert.Equal(bytes, StoreOutput.DuBytes(stdout));

    [Fact]
    public void DiskSpace_HeaderThenSizeAndAvail()
    {
        Assert.Equal((10737418240L, 5368709120L), StoreOutput.DiskSpace("     1B-blocks       Avail\n 10737418240  5368709120\n"));
        Assert.Equal((100L, 0L), StoreOutput.DiskSpace("1B-blocks Avail\r\n100 0\r\n"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("     1B-blocks       Avail\n")]
    [InlineData("df: /nix: No such file or directory\n")]
    [InlineData("10737418240 5368709120 42\n")]
    [InlineData("10737418240\n")]
    [InlineData("-1 5\n")]
    public void DiskSpace_NoSizeLine_IsNull(string stdout) =>
        Assert.Null(StoreOutput.DiskSpace(stdout));
}
