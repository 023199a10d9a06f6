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
            q.SchedulerId = "AUTO";
            q.SchedulerName = "NixFleet";
            // Interactive operations are scheduled by another node too: look for new triggers often.
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
                s.PerformSchemaValidation = false;
                s.ProvisionSchema();
            });
            q.SetProperty("quartz.scheduler.idleWaitTime", "1000");
            q.SetProperty("quartz.jobStore.misfireThreshold", "30000");

            q.AddJob<OperationReaper>(OperationReaper.Key, j => j.StoreDurably());
            q.AddTrigger(t => t.ForJob(OperationReaper.Key).WithIdentity("operation-reaper", "system")
                .WithSimpleSchedule(s => s.WithIntervalInSeconds(30).RepeatForever().WithMisfireHandlingInstructionNextWithRemainingCount()));

            if (!string.IsNullOrWhiteSpace(refreshCron))
            {
                q.AddJob<FleetRefreshSchedule>(FleetRefreshSchedule.Key, j => j.StoreDurably());
                // A missed window is not fired late: the next period refreshes anyway.
                q.AddTrigger(t => t.ForJob(FleetRefreshSchedule.Key).WithIdentity("fleet-refresh", "system")
                    .WithCronSchedule(refreshCron, c => c.WithMisfireHandlingInstructionDoNothing()));
            }
        });
        builder.Services.AddQuartzHostedService(o => o.WaitForJobsToComplete = false);
    }
}
