using System.Globalization;

namespace NixFleet.Shared.Nix;

/// <summary>How a system generation is activated: <c>switch-to-configuration MODE</c>.</summary>
public static class ActivationMode
{
    /// <summary>Activate now and make it the boot default.</summary>
    public const string Switch = "switch";

    /// <summary>Make it the boot default only.</summary>
    public const string Boot = "boot";

    /// <summary>Activate now, not the boot default.</summary>
    public const string Test = "test";

    public static IReadOnlyList<string> All { get; } = [Switch, Boot, Test];

    public static bool IsValid(string? mode) => mode is Switch or Boot or Test;

    /// <summary>Whether the mode changes what the profile points at (and so the boot default).</summary>
    public static bool SetsProfile(string mode) => mode is Switch or Boot;

    /// <summary>Whether the mode changes what runs now (<c>/run/current-system</c>).</summary>
    public static bool Activates(string mode) => mode is Switch or Test;
}

/// <summary>A rollback request checked against what the host listed.</summary>
/// <param name="From">What the rollback moves away from: for a system profile in boot mode the boot default, else what runs; null when nothing does.</param>
/// <param name="To">The target generation, which exists (and on a system profile can be activated).</param>
public sealed record RollbackTarget(ProfileGenerations Profile, Generation? From, Generation To, string Mode);

/// <summary>
/// Checks on user input before anything runs (pure). A profile must be exactly one the host
/// listed in its last <see cref="GenerationsProbe"/> run; a generation a number from 1 to
/// int.MaxValue that profile has; a mode one of <see cref="ActivationMode.All"/>.
/// </summary>
public static class GenerationValidation
{
    /// <summary>Exact, case-sensitive match on <see cref="ProfileGenerations.Profile"/>; no normalisation.</summary>
    public static ProfileGenerations? FindProfile(IReadOnlyList<ProfileGenerations> listed, string? profile)
    {
        ArgumentNullException.ThrowIfNull(listed);
        return profile is null ? null : listed.FirstOrDefault(p => string.Equals(p.Profile, profile, StringComparison.Ordinal));
    }

    public static bool IsGenerationNumber(long number) => number is >= 1 and <= int.MaxValue;

    /// <summary>Digits only ("12"), 1 to int.MaxValue: no sign, no spaces, no exponent.</summary>
    public static bool TryParseGeneration(string? text, out int number)
    {
        number = 0;
        return !string.IsNullOrEmpty(text) && text.Length <= 10 &&
            int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out number) && number >= 1;
    }

    /// <summary>The generation, when the number is valid and the profile has it.</summary>
    public static Generation? FindGeneration(ProfileGenerations profile, long number)
    {
        ArgumentNullException.ThrowIfNull(profile);
        return IsGenerationNumber(number) ? profile.Find((int)number) : null;
    }

    /// <summary>
    /// Checks a rollback request. <paramref name="generation"/> null means "previous" (what
    /// <c>nix-env --rollback</c> picks); <paramref name="mode"/> null means switch. Only system
    /// profiles take boot and test; their target must contain an executable
    /// <c>bin/switch-to-configuration</c> and a <c>nixos-version</c>.
    /// </summary>
    /// <returns>The checked target, or the reason it is refused (for a 400 and the form).</returns>
    public static (RollbackTarget? Target, string? Error) CheckRollback(
        IReadOnlyList<ProfileGenerations> listed, string? profile, long? generation, string? mode)
    {
        var found = FindProfile(listed, profile);
        if (found is null)
        {
            return (null, "The profile is not one of the host's profiles.");
        }

        mode ??= ActivationMode.Switch;
        if (!ActivationMode.IsValid(mode))
        {
            return (null, "The mode must be switch, boot or test.");
        }

        if (!found.IsSystem && mode != ActivationMode.Switch)
        {
            return (null, "Only a system profile can be activated in boot or test mode.");
        }

        Generation? to;
        if (generation is null)
        {
            to = found.Previous;
            if (to is null)
            {
                return (null, "The profile has no generation before the one it points at.");
            }
        }
        else if (!IsGenerationNumber(generation.Value))
        {
            return (null, "A generation number is a whole number from 1 to 2147483647.");
        }
        else
        {
            to = found.Find((int)generation.Value);
            if (to is null)
            {
                return (null, $"Generation {generation.Value} of {found.Profile} does not exist (any more).");
            }
        }

        if (found.IsSystem && !to.HasSwitchToConfiguration)
        {
            return (null, $"Generation {to.Number} has no bin/switch-to-configuration: it cannot be activated.");
        }

        if (found.IsSystem && to.NixosVersion is null)
        {
            return (null, $"Generation {to.Number} has no nixos-version: it is not a NixOS system.");
        }

        var from = found.IsSystem && mode != ActivationMode.Boot ? found.Current : found.BootDefault;
        return (new RollbackTarget(found, from, to, mode), null);
    }
}
