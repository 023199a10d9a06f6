using NixFleet.Web.Data;
using NixFleet.Web.Features.Hosts;
using NixFleet.Web.Features.Operations;
using Quartz;

namespace NixFleet.Web.Jobs;

public static class QuartzSetup
{
    /// <summary>
    /// Quartz with its clustered PostgreSQL store (instance id AUTO): a job fires on one node, and a
    /// node that dies mid-job has its recoverable jobs re-run by another (or by itself after restart).
    /// </summary>
    public static void AddNixFleetJobs(this WebApplicationBuilder builder)
    {
        var connectionString = builder.Configuration.GetConnectionString(DataSetup.ConnectionName)!;
        var refreshCron = builder.Configuration[$"{NixFleetOptions.Section}:FleetRefreshCron"] ?? new NixFleetOptions().FleetRefreshCron;
        builder.Services.AddQuartz(q =>
        {
            q.ConfigureScheduler(o =>
            {
                o.InstanceName = "NixFleet";
                // Operations are scheduled by whichever node took the click: look for new triggers often.
                o.IdleWaitTime = TimeSpan.FromSeconds(1);
            });
            q.UseDefaultThreadPool(tp => tp.MaxConcurrency = 20);
            q.UsePersistentStore(s =>
            {
                s.UsePostgres(connectionString);
                s.UseSystemTextJsonSerializer();
                s.UseClustering(c =>
                {
                    c.CheckinInterval = TimeSpan.FromSeconds(5);
                    c.CheckinMisfireThreshold = TimeSpan.FromSeconds(10);
                });
                s.ConfigureStore(o => o.MisfireThreshold = TimeSpan.FromSeconds(30));
                s.ProvisionSchema();
            });

            q.AddJob<OperationReaper>(j => j.WithIdentity(OperationReaper.Key).StoreDurably());
            q.AddTrigger(t => t.ForJob(OperationReaper.Key).WithIdentity("operation-reaper", "system")
                .WithSimpleSchedule(s => s.WithInterval(TimeSpan.FromSeconds(30)).RepeatForever()
                    .WithMisfireInstruction(SimpleTriggerMisfireInstruction.NextWithRemainingCount)));

            if (!string.IsNullOrWhiteSpace(refreshCron))
            {
                q.AddJob<FleetRefreshSchedule>(j => j.WithIdentity(FleetRefreshSchedule.Key).StoreDurably());
                // A missed window is not fired late: the next period refreshes anyway.
                q.AddTrigger(t => t.ForJob(FleetRefreshSchedule.Key).WithIdentity("fleet-refresh", "system")
                    .WithCronSchedule(refreshCron, c => c.WithMisfireInstruction(CronTriggerMisfireInstruction.DoNothing)));
            }
        });
        builder.Services.AddQuartzHostedService(o => o.WaitForJobsToComplete = false);
    }
}
