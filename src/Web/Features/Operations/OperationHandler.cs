using Microsoft.EntityFrameworkCore;
using NixFleet.Web.Data;

namespace NixFleet.Web.Features.Operations;

/// <summary>Runs one kind of operation. Register with AddOperationHandler.</summary>
public interface IOperationHandler
{
    string Kind { get; }

    /// <summary>
    /// Does the work and returns the result (serialized to JSON), or throws with a message an
    /// operator can act on. Called again from the start when a node died mid-way
    /// (<see cref="OperationContext.IsRecovery"/>): steps must be idempotent or check the host first.
    /// </summary>
    Task<object?> RunAsync(OperationContext context, CancellationToken ct);
}

/// <summary>What a handler gets: its row, a log that is stored line by line, and its services.</summary>
public sealed class OperationContext(Operation operation, OperationLog log, IServiceProvider services, bool isRecovery)
{
    public Operation Operation { get; } = operation;
    public OperationLog Log { get; } = log;
    public IServiceProvider Services { get; } = services;
    public bool IsRecovery { get; } = isRecovery;

    public T? Parameters<T>() => Operation.Parameters is { } json
        ? System.Text.Json.JsonSerializer.Deserialize<T>(json, System.Text.Json.JsonSerializerOptions.Web)
        : default;

    /// <summary>The checkpoint a previous attempt saved, if any.</summary>
    public T? Checkpoint<T>() => Operation.Checkpoint is { } json
        ? System.Text.Json.JsonSerializer.Deserialize<T>(json, System.Text.Json.JsonSerializerOptions.Web)
        : default;

    /// <summary>Records how far the work got, before the step that depends on it.</summary>
    public async Task SaveCheckpointAsync<T>(T checkpoint, CancellationToken ct)
    {
        var json = System.Text.Json.JsonSerializer.Serialize(checkpoint, System.Text.Json.JsonSerializerOptions.Web);
        Operation.Checkpoint = json;
        var db = Services.GetRequiredService<NixFleetDb>();
        await db.Operations.Where(o => o.Id == Operation.Id)
            .ExecuteUpdateAsync(s => s.SetProperty(o => o.Checkpoint, json), ct);
    }

    /// <summary>Running or reconciling (the host's connection was lost and its state is being read back).</summary>
    public async Task SetStatusAsync(string status, CancellationToken ct)
    {
        var db = Services.GetRequiredService<NixFleetDb>();
        await db.Operations
            .Where(o => o.Id == Operation.Id && (o.Status == OperationStatus.Running || o.Status == OperationStatus.Reconciling))
            .ExecuteUpdateAsync(s => s.SetProperty(o => o.Status, status), ct);
    }
}

/// <summary>An error whose message is the whole story for the operator (no stack trace needed).</summary>
/// <param name="result">What was done before it failed (stored as the operation's result).</param>
public sealed class OperationFailedException(string message, object? result = null) : Exception(message)
{
    public object? Result { get; } = result;
}
