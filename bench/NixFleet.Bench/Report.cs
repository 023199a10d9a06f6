using System.Globalization;
using System.Text;

namespace NixFleet.Bench;

/// <summary>Collects every benchmark's tables and notes; prints them as text and as Markdown.</summary>
public sealed class Report
{
    sealed record TableData(string Title, string Intro, string[] Headers, List<string[]> Rows);

    readonly List<TableData> _tables = [];
    readonly List<(string Title, string Text)> _notes = [];

    /// <summary>A new table; add rows (one cell per header) to the returned list.</summary>
    public List<string[]> Table(string title, string intro, params string[] headers)
    {
        var rows = new List<string[]>();
        _tables.Add(new TableData(title, intro, headers, rows));
        return rows;
    }

    /// <summary>Free text (plans, findings) shown after the tables.</summary>
    public void Note(string title, string text) => _notes.Add((title, text));

    public static string Ms(double ms) => double.IsNaN(ms) ? "-" : ms switch
    {
        >= 10_000 => (ms / 1000).ToString("0.0", CultureInfo.InvariantCulture) + " s",
        >= 1000 => (ms / 1000).ToString("0.00", CultureInfo.InvariantCulture) + " s",
        >= 100 => ms.ToString("0", CultureInfo.InvariantCulture) + " ms",
        >= 10 => ms.ToString("0.0", CultureInfo.InvariantCulture) + " ms",
        _ => ms.ToString("0.00", CultureInfo.InvariantCulture) + " ms",
    };

    public static string Ratio(double r) => double.IsNaN(r) || double.IsInfinity(r) ? "-" :
        r >= 10 ? r.ToString("0", CultureInfo.InvariantCulture) + "x" : r.ToString("0.00", CultureInfo.InvariantCulture) + "x";

    public string Text()
    {
        var sb = new StringBuilder();
        foreach (var t in _tables)
        {
            sb.AppendLine().AppendLine("== " + t.Title);
            var all = new List<string[]> { t.Headers };
            all.AddRange(t.Rows);
            var widths = Enumerable.Range(0, t.Headers.Length).Select(c => all.Max(r => c < r.Length ? r[c].Length : 0)).ToArray();
            for (var i = 0; i < all.Count; i++)
            {
                sb.AppendLine(string.Join("  ", all[i].Select((cell, c) => cell.PadRight(widths[c]))).TrimEnd());
                if (i == 0) sb.AppendLine(string.Join("  ", widths.Select(w => new string('-', w))));
            }
        }
        foreach (var (title, text) in _notes)
            sb.AppendLine().AppendLine("== " + title).AppendLine(text.TrimEnd());
        return sb.ToString();
    }

    public string Markdown()
    {
        var sb = new StringBuilder();
        foreach (var t in _tables)
        {
            sb.AppendLine().AppendLine("## " + t.Title).AppendLine();
            if (t.Intro.Length > 0) sb.AppendLine(t.Intro).AppendLine();
            sb.AppendLine("| " + string.Join(" | ", t.Headers.Select(Esc)) + " |");
            sb.AppendLine("|" + string.Concat(t.Headers.Select(_ => " --- |")));
            foreach (var r in t.Rows) sb.AppendLine("| " + string.Join(" | ", r.Select(Esc)) + " |");
        }
        foreach (var (title, text) in _notes)
            sb.AppendLine().AppendLine("## " + title).AppendLine().AppendLine("```").AppendLine(text.TrimEnd()).AppendLine("```");
        return sb.ToString();
    }

    static string Esc(string s) => s.Replace("|", "\\|");
}

public static class Stats
{
    public static double Percentile(IReadOnlyList<double> values, double p)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToArray();
        var rank = p / 100.0 * (sorted.Length - 1);
        var lo = (int)Math.Floor(rank);
        var hi = (int)Math.Ceiling(rank);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
    }

    public static double Median(IReadOnlyList<double> values) => Percentile(values, 50);
}
