using System.Text.Json;

namespace NixFleet.Web.Features.Maintenance;

/// <summary>Reads figures out of stored operation results (JSON, camelCase), tolerating missing fields.</summary>
public static class MaintenanceResults
{
    public static long? BytesFreed(string resultJson) => Long(resultJson, "bytesFreed");

    public static long? Long(string? json, string field)
    {
        if (string.IsNullOrEmpty(json)) return null;
        try
        {
            using var doc = JsonDocument.Parse(json);
            return doc.RootElement.ValueKind == JsonValueKind.Object &&
                doc.RootElement.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n)
                ? n : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
