#include "audit/audit_service.hpp"
#include "common/logging.hpp"
#include "common/stop_signals.hpp"
#include "programs/commands.hpp"
#include "programs/common_options.hpp"

#include <csignal>
#include <pthread.h>

namespace llmp::programs {

void add_database_option(CLI::App& cmd, std::string& url) {
    cmd.add_option("--database-url", url, "PostgreSQL connection string or URI")
        ->envname("LLMPROXY_DATABASE_URL")
        ->capture_default_str();
}

void add_audit_command(CLI::App& app, int& exit_code) {
    auto* cmd = app.add_subcommand("audit", "Audit service: stores every request and response in PostgreSQL");
    auto cfg = std::make_shared<audit::audit_config>();
    auto common = std::make_shared<common_options>();
    add_broker_options(*cmd, cfg->broker);
    add_log_options(*cmd, *common);
    add_metrics_options(*cmd, *common, 9402);
    add_database_option(*cmd, cfg->database_url);
    cmd->add_option("--batch-rows", cfg->batch_rows, "write a batch when it holds this many rows")
        ->envname("LLMPROXY_AUDIT_BATCH_ROWS")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    auto batch_ms = std::make_shared<std::int64_t>(cfg->batch_time.count());
    cmd->add_option("--batch-ms", *batch_ms, "...or when its oldest row has waited this long")
        ->envname("LLMPROXY_AUDIT_BATCH_MS")
        ->check(CLI::Range(1, 60000))
        ->capture_default_str();
    cmd->add_option("--prefetch", cfg->prefetch, "unacked deliveries per audit queue")
        ->envname("LLMPROXY_AUDIT_PREFETCH")
        ->check(CLI::Range(1, 65535))
        ->capture_default_str();
    auto api_lost_ms = std::make_shared<std::int64_t>(cfg->api_lost_after.count());
    cmd->add_option("--api-lost-after-ms", *api_lost_ms,
                    "judge an API server lost after this long without its delivery confirmations; the answers it "
                    "never confirmed become error api_lost (0 = never)")
        ->envname("LLMPROXY_AUDIT_API_LOST_AFTER_MS")
        ->check(CLI::Range(std::int64_t{0}, std::int64_t{3600000}))
        ->capture_default_str();
    cmd->add_flag("--audit-chunks", cfg->audit_chunks, "also store every chunk with its arrival time (response_chunks)")
        ->envname("LLMPROXY_AUDIT_CHUNKS");
    cmd->add_flag("--audit-image-bytes", cfg->image_bytes,
                  "store requests' images as sent (base64) instead of each image's SHA-256 and size")
        ->envname("LLMPROXY_AUDIT_IMAGE_BYTES");
    auto drain_ms = std::make_shared<std::int64_t>(cfg->drain_timeout.count());
    cmd->add_option("--drain-timeout-ms", *drain_ms, "on SIGTERM, how long the current batch may take to commit")
        ->envname("LLMPROXY_DRAIN_TIMEOUT_MS")
        ->capture_default_str();
    cmd->add_option("--backlog-alarm", cfg->backlog_alarm_messages,
                    "llmproxy_audit_backlog_alarm is 1 while an audit queue holds this many messages (0 = never)")
        ->envname("LLMPROXY_AUDIT_BACKLOG_ALARM")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    auto backlog_ms = std::make_shared<std::int64_t>(cfg->backlog_interval.count());
    cmd->add_option("--backlog-sample-ms", *backlog_ms, "how often the audit queues' depths are read")
        ->envname("LLMPROXY_AUDIT_BACKLOG_SAMPLE_MS")
        ->check(CLI::Range(100, 600000))
        ->capture_default_str();
    cmd->add_option("--retention-days", cfg->retention_days,
                    "days of requests and responses kept; older ones are deleted in batches (0 = forever)")
        ->envname("LLMPROXY_RETENTION_DAYS")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    cmd->add_option("--rollup-retention-days", cfg->rollup_retention_days,
                    "days of per-minute rollups kept, at least --retention-days (0 = forever; hourly ones stay)")
        ->envname("LLMPROXY_ROLLUP_RETENTION_DAYS")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    cmd->callback([cfg, common, batch_ms, api_lost_ms, drain_ms, backlog_ms, &exit_code] {
        llmp::log::setup(common->log_level, "audit");
        cfg->batch_time = std::chrono::milliseconds{*batch_ms};
        cfg->api_lost_after = std::chrono::milliseconds{*api_lost_ms};
        cfg->backlog_interval = std::chrono::milliseconds{*backlog_ms};
        cfg->drain_timeout = std::chrono::milliseconds{*drain_ms};
        auto log = llmp::log::get("audit");
        if (auto v = cfg->validate(); !v) {
            std::fprintf(stderr, "llmproxy audit: %s\n", v.error().message.c_str());
            exit_code = 2;
            return;
        }
        log->info(
            "msg=\"config\" amqp_url={} prefix={} database_url={} batch_rows={} batch_ms={} prefetch={} "
            "audit_chunks={} audit_queue_max_length={} backlog_alarm={} retention_days={} rollup_retention_days={}",
            mask_url(cfg->broker.url), cfg->broker.prefix, mask_url(cfg->database_url), cfg->batch_rows, *batch_ms,
            cfg->prefetch, cfg->audit_chunks, cfg->broker.audit_queue_max_length, cfg->backlog_alarm_messages,
            cfg->retention_days, cfg->rollup_retention_days);
        // main() blocked SIGINT/SIGTERM and every thread inherits that mask, so only the
        // sigwait below sees them (common/stop_signals.hpp); blocked again here for clarity.
        block_stop_signals();
        audit::audit_service svc{*cfg};
        if (auto r = svc.start(); !r) {
            log->critical("msg=\"cannot start\" error=\"{}\"", r.error().message);
            std::fprintf(stderr, "llmproxy audit: %s\n", r.error().message.c_str());
            exit_code = 1;
            return;
        }
        auto exporter = start_metrics_exporter(*common, svc.metrics_registry());
        if (!exporter) {
            std::fprintf(stderr, "llmproxy audit: %s\n", exporter.error().message.c_str());
            svc.stop();
            exit_code = 1;
            return;
        }
        if (exporter.value()) {
            log->info("msg=\"metrics server started\" listen={}:{}", common->metrics.listen_address,
                      exporter.value()->port());
        }
        log->info("msg=\"stopping\" signal={}", wait_for_stop_signal());
        svc.stop();
        auto s = svc.stats();
        log->info("msg=\"audit stopped\" rows={} requests={} responses={} chunks={} dead_lettered={}", s.rows,
                  s.requests, s.responses, s.chunks, s.dead_lettered);
        exit_code = 0;
    });
}

}  // namespace llmp::programs
