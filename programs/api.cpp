#include "api/api_server.hpp"
#include "api/request_timeout.hpp"
#include "common/logging.hpp"
#include "common/stop_signals.hpp"
#include "programs/commands.hpp"
#include "programs/common_options.hpp"

namespace llmp::programs {

void add_api_command(CLI::App& app, int& exit_code) {
    auto* cmd = app.add_subcommand("api", "HTTP API server: accepts requests, queues them, streams answers");
    auto cfg = std::make_shared<api::api_config>();
    auto common = std::make_shared<common_options>();
    add_broker_options(*cmd, cfg->broker);
    add_log_options(*cmd, *common);
    cmd->add_option("--listen", cfg->listen_address, "address to listen on")
        ->envname("LLMPROXY_API_LISTEN")
        ->capture_default_str();
    cmd->add_option("--port", cfg->port, "port to listen on (0 = any free port)")
        ->envname("LLMPROXY_API_PORT")
        ->capture_default_str();
    auto port_file = std::make_shared<std::string>();
    cmd->add_option("--port-file", *port_file, "write the bound port to this file once listening (for scripts and tests)")
        ->envname("LLMPROXY_API_PORT_FILE");
    cmd->add_option("--io-threads", cfg->io_threads, "I/O threads")
        ->envname("LLMPROXY_API_IO_THREADS")
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    cmd->add_option("--body-limit", cfg->body_limit, "largest request body in bytes (413 beyond)")
        ->envname("LLMPROXY_API_BODY_LIMIT")
        ->capture_default_str();
    auto idle_ms = std::make_shared<std::int64_t>(cfg->stream_idle_timeout.count());
    cmd->add_option("--stream-idle-timeout-ms", *idle_ms, "longest wait for a stream's next event")
        ->envname("LLMPROXY_STREAM_IDLE_TIMEOUT_MS")
        ->capture_default_str();
    auto timeout_ms = std::make_shared<std::int64_t>(cfg->request_timeout.count());
    cmd->add_option("--request-timeout-ms", *timeout_ms, "per-request deadline (0 = none)")
        ->envname("LLMPROXY_REQUEST_TIMEOUT_MS")
        ->check(CLI::Range(std::int64_t{0}, api::max_message_ttl_ms))
        ->capture_default_str();
    auto max_timeout_ms = std::make_shared<std::int64_t>(cfg->max_request_timeout.count());
    cmd->add_option("--max-request-timeout-ms", *max_timeout_ms,
                    "largest deadline a client may ask for (X-Request-Timeout-Ms, body timeout_ms; 400 beyond)")
        ->envname("LLMPROXY_MAX_REQUEST_TIMEOUT_MS")
        ->check(CLI::Range(std::int64_t{1}, api::max_message_ttl_ms))
        ->capture_default_str();
    auto drain_ms = std::make_shared<std::int64_t>(cfg->drain_timeout.count());
    cmd->add_option("--drain-timeout-ms", *drain_ms, "on SIGTERM, how long open streams may finish")
        ->envname("LLMPROXY_DRAIN_TIMEOUT_MS")
        ->capture_default_str();
    cmd->add_option("--server-id", cfg->server_id, "unique id of this server (default: generated)")
        ->envname("LLMPROXY_SERVER_ID");
    cmd->callback([cfg, common, idle_ms, timeout_ms, max_timeout_ms, drain_ms, port_file, &exit_code] {
        if (*timeout_ms > *max_timeout_ms) {
            std::fprintf(stderr, "llmproxy api: --request-timeout-ms (%lld) exceeds --max-request-timeout-ms (%lld)\n",
                         static_cast<long long>(*timeout_ms), static_cast<long long>(*max_timeout_ms));
            exit_code = 2;
            return;
        }
        llmp::log::setup(common->log_level, "api");
        cfg->stream_idle_timeout = std::chrono::milliseconds{*idle_ms};
        cfg->request_timeout = std::chrono::milliseconds{*timeout_ms};
        cfg->max_request_timeout = std::chrono::milliseconds{*max_timeout_ms};
        cfg->drain_timeout = std::chrono::milliseconds{*drain_ms};
        auto log = llmp::log::get("api");
        log->info("msg=\"config\" amqp_url={} prefix={} listen={}:{} body_limit={} request_timeout_ms={} "
                  "max_request_timeout_ms={}",
                  mask_url(cfg->broker.url), cfg->broker.prefix, cfg->listen_address, cfg->port,
                  cfg->body_limit, *timeout_ms, *max_timeout_ms);
        api::api_server server{*cfg};
        unblock_stop_signals();  // its signal_set exists: a SIGTERM from now on stops it gracefully
        if (auto r = server.start(); !r) {
            log->critical("msg=\"cannot start\" error=\"{}\"", r.error().message);
            std::fprintf(stderr, "llmproxy api: %s\n", r.error().message.c_str());
            exit_code = 1;
            return;
        }
        if (!port_file->empty()) {
            write_port_file(*port_file, server.port());
        }
        exit_code = server.run();
    });
}

}  // namespace llmp::programs
