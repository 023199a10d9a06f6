using System.Globalization;

namespace NixFleet.Shared.Nix;

/// <summary>A deletion policy of <c>nix-env --delete-generations</c>: "+K" or "Nd".</summary>
/// <param name="KeepLast">K of "+K", else null.</param>
/// <param name="OlderThanDays">N of "Nd", else null.</param>
public sealed record DeletionPolicy(int? KeepLast, int? OlderThanDays)
{
    /// <summary>The spec nix-env takes: "+5", "30d".</summary>
    public string Spec => KeepLast is { } k
        ? "+" + k.ToString(CultureInfo.InvariantCulture)
        : OlderThanDays!.Value.ToString(CultureInfo.InvariantCulture) + "d";
}

/// <summary>
/// What <c>nix-env --delete-generations +K | Nd</c> deletes, computed the way Nix 2.8 does
/// (src/libstore/profiles.cc, checked on the test hosts), plus NixFleet's own rule: never the
/// generation that runs nor the boot default. Pure: the lead deletes exactly the previewed
/// numbers with <see cref="RollbackCommands.DeleteGenerationNumbers"/>.
/// </summary>
public static class GenerationPolicy
{
    /// <summary>Nix 2.8 computes N days in seconds in an int: more than this overflows.</summary>
    public const int MaxDays = 24855;

    public static DeletionPolicy KeepLast(int count) =>
        count is >= 1 ? new DeletionPolicy(count, null) : throw new ArgumentOutOfRangeException(nameof(count), count, "Keep at least one generation.");

    public static DeletionPolicy OlderThanDays(int days) =>
        days is >= 1 and <= MaxDays ? new DeletionPolicy(null, days) : throw new ArgumentOutOfRangeException(nameof(days), days, $"Days must be 1 to {MaxDays}.");

    /// <summary>"+K" with K ≥ 1, or "Nd" with 1 ≤ N ≤ <see cref="MaxDays"/>; digits only, no sign, no spaces.</summary>
    public static bool TryParse(string? spec, out DeletionPolicy policy)
    {
        policy = null!;
        if (string.IsNullOrEmpty(spec) || spec.Length > 12)
        {
            return false;
        }

        if (spec[0] == '+' && TryParseNumber(spec.AsSpan(1), out var keep) && keep >= 1)
        {
            policy = new DeletionPolicy(keep, null);
            return true;
        }

        if (spec[^1] == 'd' && TryParseNumber(spec.AsSpan(0, spec.Length - 1), out var days) && days is >= 1 and <= MaxDays)
        {
            policy = new DeletionPolicy(null, days);
            return true;
        }

        return false;
    }

    /// <summary>
    /// The generations the policy deletes, oldest first: what nix-env would delete, less the
    /// generation that runs and the boot default (nix-env protects only the latter).
    /// </summary>
    /// <param name="now">The host's clock (generation dates are the host's too).</param>
    public static IReadOnlyList<Generation> Preview(ProfileGenerations profile, DeletionPolicy policy, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(policy);
        var newestFirst = profile.Generations.OrderByDescending(g => g.Number).ToList();
        var pointsAt = profile.BootDefault?.Number;
        var doomed = new List<Generation>();

        if (policy.KeepLast is { } keep)
        {
            // Generations newer than the one the profile points at are kept; from it downwards,
            // it and the K-1 before it are kept. A profile pointing at no listed generation
            // deletes nothing (Nix finds no current generation to count from).
            var fromCurrent = false;
            var left = keep;
            foreach (var generation in newestFirst)
            {
                if (generation.Number == pointsAt)
                {
                    fromCurrent = true;
                    left--;
                    continue;
                }

                if (!fromCurrent)
                {
                    continue;
                }

                if (left > 0)
                {
                    left--;
                    continue;
                }

                doomed.Add(generation);
            }
        }
        else
        {
            // The newest generation older than the limit was the one in use at that time: it is
            // kept, every older one goes (but the current one).
            var limit = now.ToUnixTimeSeconds() - (long)policy.OlderThanDays!.Value * 24 * 3600;
            var canDelete = false;
            foreach (var generation in newestFirst)
            {
                if (canDelete)
                {
                    if (generation.Number != pointsAt)
                    {
                        doomed.Add(generation);
                    }
                }
                else if (generation.Date.ToUnixTimeSeconds() < limit)
                {
                    canDelete = true;
                }
            }
        }

        return doomed.Where(g => !g.Current && !g.BootDefault).OrderBy(g => g.Number).ToList();
    }

    private static bool TryParseNumber(ReadOnlySpan<char> digits, out int value) =>
        int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out value);
}
