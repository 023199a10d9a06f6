using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;
using NixFleet.Web.Data;

namespace NixFleet.Web.Features.Operations;

/// <summary>
/// Stores an operation's output, every line with a sequence number, in small batches. Live views
/// tail the table, so a browser on any node (or after a reconnect) sees the same lines.
/// </summary>
public sealed class OperationLog : IAsyncDisposable
{
    public const string OutStream = "out";
    public const string ErrStream = "err";
    public const string InfoStream = "info";

    readonly Guid _operationId;
    readonly IServiceScopeFactory _scopes;
    readonly ILogger _logger;
    readonly Channel<OperationLine> _pending = Channel.CreateUnbounded<OperationLine>();
    readonly Task _writer;
    int _seq;

    OperationLog(Guid operationId, int lastSeq, IServiceScopeFactory scopes, ILogger logger)
    {
        _operationId = operationId;
        _seq = lastSeq;
        _scopes = scopes;
        _logger = logger;
        _writer = Task.Run(WriteLoopAsync);
    }

    public static async Task<OperationLog> OpenAsync(Guid operationId, IServiceScopeFactory scopes, ILogger logger, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<NixFleetDb>();
        var last = await db.OperationLines.Where(l => l.OperationId == operationId).MaxAsync(l => (int?)l.Seq, ct) ?? 0;
        return new OperationLog(operationId, last, scopes, logger);
    }

    /// <summary>The last line written, so a closing error already said by the handler is not said twice.</summary>
    public string? LastText { get; private set; }

    public void Write(string stream, string text)
    {
        LastText = text;
        // Sequence numbers are given here, in call order, so the stored order is the order written.
        var seq = Interlocked.Increment(ref _seq);
        _pending.Writer.TryWrite(new OperationLine { OperationId = _operationId, Seq = seq, Stream = stream, Text = text });
    }

    public void Info(string text) => Write(InfoStream, text);

    async Task WriteLoopAsync()
    {
        var batch = new List<OperationLine>();
        while (await _pending.Reader.WaitToReadAsync())
        {
            while (batch.Count < 500 && _pending.Reader.TryRead(out var line)) batch.Add(line);
            await Retry.UntilStoredAsync(async () =>
            {
                await using var scope = _scopes.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<NixFleetDb>();
                db.OperationLines.AddRange(batch.Select(Copy));
                await db.SaveChangesAsync();
            }, _logger, "operation output");
            batch.Clear();
            await Task.Delay(100);
        }
    }

    static OperationLine Copy(OperationLine l) =>
        new() { OperationId = l.OperationId, Seq = l.Seq, Stream = l.Stream, Text = l.Text, At = l.At };

    /// <summary>Waits until every line written so far is stored.</summary>
    public async ValueTask DisposeAsync()
    {
        _pending.Writer.TryComplete();
        await _writer;
    }
}

/// <summary>Writes that must survive a database restart are retried for a while, not dropped.</summary>
public static class Retry
{
    public static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);

    public static async Task UntilStoredAsync(Func<Task> write, ILogger logger, string what)
    {
        var deadline = DateTimeOffset.UtcNow + Patience;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await write();
                return;
            }
            catch (Exception e) when (IsTransient(e) && DateTimeOffset.UtcNow < deadline)
            {
                logger.LogWarning("Storing {What} failed (attempt {Attempt}), retrying: {Error}", what, attempt, e.Message);
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(attempt, 5)));
            }
        }
    }

    static bool IsTransient(Exception e) => e switch
    {
        Npgsql.NpgsqlException n => n.IsTransient || n is Npgsql.PostgresException { SqlState: "57P01" or "57P03" },
        DbUpdateException { InnerException: { } inner } => IsTransient(inner),
        InvalidOperationException { InnerException: { } inner } => IsTransient(inner),
        _ => false,
    };
}
