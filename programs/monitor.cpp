#include "common/logging.hpp"
#include "common/stop_signals.hpp"
#include "monitor/monitor_service.hpp"
#include "programs/commands.hpp"
#include "programs/common_options.hpp"

#include <string>
#include <vector>

#ifndef LLMPROXY_WEB_DIR
#define LLMPROXY_WEB_DIR "web/dist"
#endif

namespace llmp::programs {
namespace {

/// "a, b,c" -> {"a", "b", "c"} (blanks trimmed, empty items dropped).
std::vector<std::string> split_list(const std::string& list) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= list.size()) {
        auto comma = list.find(',', start);
        auto item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        auto b = item.find_first_not_of(" \t");
        if (b != std::string::npos) {
            out.push_back(item.substr(b, item.find_last_not_of(" \t") - b + 1));
        }
        if (comma == std::string::npos) {
            break;
        }
        start = comma + 1;
    }
    return out;
}

}  // namespace

void add_monitor_command(CLI::App& app, int& exit_code) {
    auto* cmd = app.add_subcommand(
        "monitor", "Monitoring service: dashboard and JSON API over the audit database, RabbitMQ and heartbeats");
    auto cfg = std::make_shared<monitor::monitor_config>();
    cfg->web_dir = LLMPROXY_WEB_DIR;
    auto common = std::make_shared<common_options>();
    add_broker_options(*cmd, cfg->broker);
    add_log_options(*cmd, *common);
    add_database_option(*cmd, cfg->database_url);
    cmd->add_option("--listen", cfg->listen_address,
                    "address to listen on (default loopback only; 0.0.0.0 serves every interface)")
        ->envname("LLMPROXY_MONITOR_LISTEN")
        ->capture_default_str();
    cmd->add_option("--port", cfg->port, "port to listen on (0 = any free port)")
        ->envname("LLMPROXY_MONITOR_PORT")
        ->capture_default_str();
    auto port_file = std::make_shared<std::string>();
    cmd->add_option("--port-file", *port_file,
                    "write the bound port to this file once listening (for scripts and tests)")
        ->envname("LLMPROXY_MONITOR_PORT_FILE");
    cmd->add_option("--rabbitmq-mgmt-url", cfg->rabbitmq_mgmt_url,
                    "RabbitMQ management API base URL (queue depths and rates; empty = none)")
        ->envname("LLMPROXY_RABBITMQ_MGMT_URL")
        ->capture_default_str();
    cmd->add_option("--rabbitmq-mgmt-user", cfg->rabbitmq_mgmt_user, "management API user")
        ->envname("LLMPROXY_RABBITMQ_MGMT_USER")
        ->capture_default_str();
    cmd->add_option("--rabbitmq-mgmt-password", cfg->rabbitmq_mgmt_password, "management API password")
        ->envname("LLMPROXY_RABBITMQ_MGMT_PASSWORD");
    cmd->add_option("--web-dir", cfg->web_dir, "directory of the built dashboard (npm run build in web/)")
        ->envname("LLMPROXY_MONITOR_WEB_DIR")
        ->capture_default_str();
    cmd->add_option("--io-threads", cfg->io_threads, "I/O threads")
        ->envname("LLMPROXY_MONITOR_IO_THREADS")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    cmd->add_option("--db-threads", cfg->db_threads, "database connections (one thread each) for queries")
        ->envname("LLMPROXY_MONITOR_DB_THREADS")
        ->check(CLI::Range(1, 32))
        ->capture_default_str();
    auto poll_ms = std::make_shared<std::int64_t>(cfg->queue_poll_interval.count());
    cmd->add_option("--queue-poll-ms", *poll_ms, "how often queue depths are read from the management API")
        ->envname("LLMPROXY_MONITOR_QUEUE_POLL_MS")
        ->capture_default_str();
    auto stall_s = std::make_shared<std::int64_t>(cfg->ingest_stall_after.count() / 1000);
    cmd->add_option("--ingest-stall-seconds", *stall_s,
                    "audit ingest turns red in /api/status when the audit queues hold messages and no row was "
                    "stored for this long")
        ->envname("LLMPROXY_MONITOR_INGEST_STALL_SECONDS")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{86400}))
        ->capture_default_str();
    auto query_ms = std::make_shared<std::int64_t>(cfg->query_timeout.count());
    cmd->add_option("--query-timeout-ms", *query_ms, "longest a dashboard query may run (statement_timeout)")
        ->envname("LLMPROXY_MONITOR_QUERY_TIMEOUT_MS")
        ->capture_default_str();
    auto auth = std::make_shared<std::string>("keys");
    cmd->add_option("--auth", *auth,
                    "keys: every /api/ route needs an admin or viewer key (Authorization: Bearer, or the "
                    "dashboard's login cookie; llmproxy keys create --role admin); none: anyone who reaches "
                    "the port is an admin")
        ->envname("LLMPROXY_MONITOR_AUTH")
        ->check(CLI::IsMember({"none", "keys"}))
        ->capture_default_str();
    auto hosts = std::make_shared<std::string>();
    cmd->add_option("--allowed-hosts", *hosts,
                    "comma-separated host names the monitor answers to (DNS rebinding guard; '*' = any); "
                    "default: localhost,127.0.0.1,[::1] and the --listen address")
        ->envname("LLMPROXY_MONITOR_ALLOWED_HOSTS");
    auto secure = std::make_shared<std::string>("auto");
    cmd->add_option("--cookie-secure", *secure,
                    "Secure attribute of the login cookie: auto (when the request came over HTTPS through a "
                    "proxy: X-Forwarded-Proto or an https Origin), always, never")
        ->envname("LLMPROXY_MONITOR_COOKIE_SECURE")
        ->check(CLI::IsMember({"auto", "always", "never"}))
        ->capture_default_str();
    auto ttl_min = std::make_shared<std::int64_t>(cfg->session_ttl.count());
    cmd->add_option("--session-ttl-minutes", *ttl_min, "how long a dashboard login lasts")
        ->envname("LLMPROXY_MONITOR_SESSION_TTL_MINUTES")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{60 * 24 * 366}))
        ->capture_default_str();
    cmd->callback([cfg, common, port_file, poll_ms, stall_s, query_ms, auth, hosts, secure, ttl_min, &exit_code] {
        llmp::log::setup(common->log_level, "monitor");
        cfg->queue_poll_interval = std::chrono::milliseconds{*poll_ms};
        cfg->query_timeout = std::chrono::milliseconds{*query_ms};
        cfg->ingest_stall_after = std::chrono::seconds{*stall_s};
        cfg->auth = *auth == "none" ? monitor::auth_mode::none : monitor::auth_mode::keys;
        cfg->cookie_secure = *secure == "always"  ? monitor::cookie_secure_mode::always
                             : *secure == "never" ? monitor::cookie_secure_mode::never
                                                  : monitor::cookie_secure_mode::automatic;
        cfg->session_ttl = std::chrono::minutes{*ttl_min};
        cfg->allowed_hosts = split_list(*hosts);
        auto log = llmp::log::get("monitor");
        if (auto v = cfg->validate(); !v) {
            std::fprintf(stderr, "llmproxy monitor: %s\n", v.error().message.c_str());
            exit_code = 2;
            return;
        }
        log->info(
            "msg=\"config\" listen={}:{} database_url={} rabbitmq_mgmt_url={} amqp_url={} prefix={} "
            "web_dir=\"{}\" auth={} cookie_secure={} session_ttl_min={}",
            cfg->listen_address, cfg->port, mask_url(cfg->database_url), mask_url(cfg->rabbitmq_mgmt_url),
            mask_url(cfg->broker.url), cfg->broker.prefix, cfg->web_dir, *auth, *secure, *ttl_min);
        // GET /metrics (process basics, build info, /api/ requests by route and status, the
        // monitor's own gauges) is served by the service from its registry.
        monitor::monitor_service svc{*cfg};
        unblock_stop_signals();  // its signal_set exists: a SIGTERM from now on stops it gracefully
        if (auto r = svc.start(); !r) {
            log->critical("msg=\"cannot start\" error=\"{}\"", r.error().message);
            std::fprintf(stderr, "llmproxy monitor: %s\n", r.error().message.c_str());
            exit_code = 1;
            return;
        }
        if (!port_file->empty()) {
            write_port_file(*port_file, svc.port());
        }
        exit_code = svc.run();
    });
}

}  // namespace llmp::programs
