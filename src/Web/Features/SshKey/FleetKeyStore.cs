using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using NixFleet.Shared.Execution;
using NixFleet.Web.Data;

namespace NixFleet.Web.Features.SshKey;

/// <summary>
/// NixFleet's fleet SSH key. The private key is kept encrypted by Data Protection (whose keys live
/// in PostgreSQL, so every node can read it) and is decrypted only to open an SSH master connection.
/// </summary>
public sealed class FleetKeyStore(NixFleetDb db, IDataProtectionProvider protection)
{
    readonly IDataProtector _protector = protection.CreateProtector("NixFleet.FleetKey.v1");

    public Task<FleetKey?> ActiveAsync(CancellationToken ct) =>
        db.FleetKeys.AsNoTracking().Where(k => k.Active).OrderByDescending(k => k.Id).FirstOrDefaultAsync(ct);

    public async Task<FleetKey> EnsureAsync(CancellationToken ct)
    {
        if (await ActiveAsync(ct) is { } key) return key;
        var pair = await SshKeys.GenerateAsync("nixfleet", ct);
        return await SaveAsync(pair.PrivateKey, pair.PublicKey, ct);
    }

    /// <summary>Replaces the active key with an imported one (validated by ssh-keygen).</summary>
    public async Task<FleetKey> ImportAsync(string privateKey, CancellationToken ct)
    {
        var publicKey = await SshKeys.PublicKeyFromPrivateAsync(privateKey, ct);
        await db.FleetKeys.Where(k => k.Active).ExecuteUpdateAsync(s => s.SetProperty(k => k.Active, false), ct);
        return await SaveAsync(privateKey, publicKey, ct);
    }

    public async ValueTask<string> PrivateKeyAsync(CancellationToken ct)
    {
        var key = await ActiveAsync(ct) ?? throw new InvalidOperationException("NixFleet has no fleet SSH key yet");
        return _protector.Unprotect(key.ProtectedPrivateKey);
    }

    async Task<FleetKey> SaveAsync(string privateKey, string publicKey, CancellationToken ct)
    {
        var parts = publicKey.Trim().Split(' ');
        var key = new FleetKey
        {
            PublicKey = publicKey.Trim(),
            ProtectedPrivateKey = _protector.Protect(privateKey.ReplaceLineEndings("\n").TrimEnd('\n') + "\n"),
            Fingerprint = SshHostKeys.Fingerprint(parts[1]),
        };
        db.FleetKeys.Add(key);
        await db.SaveChangesAsync(ct);
        return key;
    }
}
