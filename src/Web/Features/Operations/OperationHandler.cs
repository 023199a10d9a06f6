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
}

/// <summary>An error whose message is the whole story for the operator (no stack trace needed).</summary>
public sealed class OperationFailedException(string message) : Exception(message);
