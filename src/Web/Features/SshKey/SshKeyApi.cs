using Microsoft.AspNetCore.Http.HttpResults;
using NixFleet.Web.Features.Accounts;
using NixFleet.Web.Features.Audit;

namespace NixFleet.Web.Features.SshKey;

public static class SshKeyApi
{
    public sealed record SshKeyDto(string PublicKey, string Fingerprint, DateTimeOffset CreatedAt);
    public sealed record ImportRequest(string? PrivateKey);

    public static RouteGroupBuilder MapSshKeyApi(this RouteGroupBuilder api)
    {
        api.MapGet("/ssh-key", async (FleetKeyStore keys, CancellationToken ct) =>
        {
            var key = await keys.EnsureAsync(ct);
            return TypedResults.Ok(new SshKeyDto(key.PublicKey, key.Fingerprint, key.CreatedAt));
        }).WithTags("SSH key").RequireAuthorization(Policies.View);

        api.MapPost("/ssh-key/import", async Task<Results<Ok<SshKeyDto>, ValidationProblem>> (ImportRequest body, FleetKeyStore keys, Auditor audit, HttpContext http, CancellationToken ct) =>
        {
            if (string.IsNullOrWhiteSpace(body.PrivateKey) || body.PrivateKey.Length > 16384)
                return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["privateKey"] = ["An OpenSSH private key is required."] });
            try
            {
                var key = await keys.ImportAsync(body.PrivateKey, ct);
                await audit.RecordAsync(http.Actor(), "ssh-key.import", "fleet-key", new { key.Fingerprint }, "ok", ct);
                return TypedResults.Ok(new SshKeyDto(key.PublicKey, key.Fingerprint, key.CreatedAt));
            }
            catch (ArgumentException e)
            {
                await audit.RecordAsync(http.Actor(), "ssh-key.import", "fleet-key", null, "refused: not a key", ct);
                return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["privateKey"] = [e.Message] });
            }
        }).WithTags("SSH key").RequireAuthorization(Policies.Admin);
        return api;
    }

}
