using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Hosts;

namespace NixFleet.Web.Features.Operations;

/// <summary>How asking for an operation on one host ended: queued, or refused with the reason an operator reads.</summary>
public abstract record QueueOutcome
{
    public sealed record Queued(Operation Operation) : QueueOutcome;

    /// <summary>Another change holds the host.</summary>
    public sealed record Busy(string Message) : QueueOutcome;

    /// <summary>The host cannot be used (its key is not trusted, say).</summary>
    public sealed record Refused(string Message) : QueueOutcome;

    /// <summary>Null when NixFleet may connect to the host; else why nothing was queued.</summary>
    public static QueueOutcome? UnlessTrusted(FleetHost host) => host.HostKeyStatus == HostKeyStatus.Trusted ? null
        : new Refused($"{host.Name}'s host key is {host.HostKeyStatus}: accept it first. Nothing was queued.");

    /// <summary>The API's answer: 202 with the operation, or 409 with the reason.</summary>
    public Results<Accepted<HostsApi.OperationAccepted>, NotFound, ValidationProblem, Conflict<ProblemDetails>> ToHttp() => this switch
    {
        Queued q => TypedResults.Accepted($"/api/v1/operations/{q.Operation.Id}", new HostsApi.OperationAccepted(q.Operation.Id)),
        Busy b => TypedResults.Conflict(new ProblemDetails { Title = "The host is busy", Detail = b.Message, Status = StatusCodes.Status409Conflict }),
        Refused r => TypedResults.Conflict(new ProblemDetails { Title = "The host cannot be used", Detail = r.Message, Status = StatusCodes.Status409Conflict }),
        _ => throw new InvalidOperationException($"unexpected outcome {this}"),
    };
}
