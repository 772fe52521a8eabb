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
    cmd->add_option("--listen", cfg->listen_address,
                    "address to listen on (default loopback only; 0.0.0.0 serves every interface)")
        ->envname("LLMPROXY_API_LISTEN")
        ->capture_default_str();
    cmd->add_option("--port", cfg->port, "port to listen on (0 = any free port)")
        ->envname("LLMPROXY_API_PORT")
        ->capture_default_str();
    auto port_file = std::make_shared<std::string>();
    cmd->add_option("--port-file", *port_file,
                    "write the bound port to this file once listening (for scripts and tests)")
        ->envname("LLMPROXY_API_PORT_FILE");
    cmd->add_option("--io-threads", cfg->io_threads,
                    "I/O threads, each with an io_context of its own; a connection stays on one")
        ->envname("LLMPROXY_API_IO_THREADS")
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    cmd->add_option("--body-limit", cfg->body_limit, "largest request body in bytes (413 beyond)")
        ->envname("LLMPROXY_API_BODY_LIMIT")
        ->capture_default_str();
    cmd->add_option("--media-body-limit", cfg->media_body_limit,
                    "largest body in bytes of the chat, generate and embedding routes (base64 images; 413 beyond); "
                    "0 = --body-limit")
        ->envname("LLMPROXY_API_MEDIA_BODY_LIMIT")
        ->capture_default_str();
    cmd->add_flag("--allow-remote-images", cfg->allow_remote_images,
                  "accept http(s) image URLs (the upstream fetches them); by default 400, only data: URLs and "
                  "base64 images")
        ->envname("LLMPROXY_ALLOW_REMOTE_IMAGES");
    auto idle_ms = std::make_shared<std::int64_t>(cfg->stream_idle_timeout.count());
    cmd->add_option("--stream-idle-timeout-ms", *idle_ms, "longest wait for a stream's next event")
        ->envname("LLMPROXY_STREAM_IDLE_TIMEOUT_MS")
        ->capture_default_str();
    auto confirm_ms = std::make_shared<std::int64_t>(cfg->delivery_confirm_interval.count());
    cmd->add_option("--delivery-confirm-ms", *confirm_ms,
                    "the audit hears which answers reached their clients within 10 ms, and from an idle server "
                    "this often (its keep-alive); 0 = never: the audit cannot tell a client cut by this server's loss")
        ->envname("LLMPROXY_DELIVERY_CONFIRM_MS")
        ->check(CLI::Range(std::int64_t{0}, std::int64_t{60000}))
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
    cmd->add_option("--max-stream-buffer", cfg->max_stream_buffer,
                    "bytes of answer one stream may hold for a client that reads too slowly; past it the "
                    "stream ends (client_too_slow)")
        ->envname("LLMPROXY_MAX_STREAM_BUFFER")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    auto write_ms = std::make_shared<std::int64_t>(cfg->write_timeout.count());
    cmd->add_option("--write-timeout-ms", *write_ms,
                    "a response write that makes no progress this long ends the stream (client_too_slow)")
        ->envname("LLMPROXY_WRITE_TIMEOUT_MS")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{3600000}))
        ->capture_default_str();
    auto read_ms = std::make_shared<std::int64_t>(cfg->read_timeout.count());
    cmd->add_option("--read-timeout-ms", *read_ms,
                    "how long a request's head and body may take to arrive (from connect, or from the first "
                    "byte of a keep-alive request)")
        ->envname("LLMPROXY_READ_TIMEOUT_MS")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{3600000}))
        ->capture_default_str();
    auto keepalive_ms = std::make_shared<std::int64_t>(cfg->idle_timeout.count());
    cmd->add_option("--idle-timeout-ms", *keepalive_ms, "how long an idle keep-alive connection is kept open")
        ->envname("LLMPROXY_IDLE_TIMEOUT_MS")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{3600000}))
        ->capture_default_str();
    cmd->add_option("--max-connections", cfg->max_connections,
                    "connections open at once; past it a new one gets 503 and is closed (0 = no cap)")
        ->envname("LLMPROXY_MAX_CONNECTIONS")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    cmd->add_option("--max-connections-per-ip", cfg->max_connections_per_ip,
                    "connections open at once from one client address, 429 past it (0 = no cap; behind a "
                    "reverse proxy every client has its address)")
        ->envname("LLMPROXY_MAX_CONNECTIONS_PER_IP")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    cmd->add_option("--server-id", cfg->server_id, "unique id of this server (default: generated)")
        ->envname("LLMPROXY_SERVER_ID")
        // It is the first word of this server's routing keys (`<id>.#`); `bg` is the background
        // generations' (broker/background_keys.hpp).
        ->check([](const std::string& id) {
            return id == "bg" || id.find_first_of(".*#") != std::string::npos
                       ? std::string{"a server id is one word (no '.', '*' or '#') and not 'bg', which is reserved"}
                       : std::string{};
        });
    auto aliases = std::make_shared<std::vector<std::string>>();
    cmd->add_option("--model-alias", *aliases,
                    "ALIAS=MODEL, repeatable (comma-separated in the variable): clients may ask for ALIAS "
                    "(e.g. gpt-4o-mini=llama3.2:3b, default=llama3.2:3b) and see it in replies and model lists; "
                    "keys' allowed models match MODEL")
        ->envname("LLMPROXY_MODEL_ALIASES")
        ->delimiter(',')
        ->check(CLI::Validator(
            [](std::string& s) -> std::string {
                auto eq = s.find('=');
                return eq == std::string::npos || eq == 0 || eq + 1 == s.size()
                           ? "expected ALIAS=MODEL, got '" + s + "'"
                           : std::string{};
            },
            ""));  // no description: --help would print it where a default goes
    auto auth = std::make_shared<std::string>("none");
    cmd->add_option("--auth", *auth,
                    "none: no API keys; keys: every route but /healthz, /readyz, /metrics needs "
                    "'Authorization: Bearer <key>' (llmproxy keys create)")
        ->envname("LLMPROXY_API_AUTH")
        ->check(CLI::IsMember({"none", "keys"}))
        ->capture_default_str();
    auto fair_share = std::make_shared<std::string>("on");
    cmd->add_option("--fair-share", *fair_share,
                    "with --auth keys: a key with fewer open streams than the mean of the keys with open streams "
                    "is queued one priority level higher, so a flooding key cannot hold up the others")
        ->envname("LLMPROXY_API_FAIR_SHARE")
        ->check(CLI::IsMember({"on", "off"}))
        ->capture_default_str();
    cfg->database_url = "postgresql://postgres@127.0.0.1:5432/llmproxy";
    add_database_option(*cmd, cfg->database_url);
    auto responses_db = std::make_shared<std::string>("off");
    cmd->add_option("--responses-db", *responses_db,
                    "on: read stored responses back from --database-url (the audit's database) for "
                    "previous_response_id and GET/DELETE /v1/responses/{id}; off: those answer 400/404")
        ->envname("LLMPROXY_API_RESPONSES_DB")
        ->check(CLI::IsMember({"on", "off"}))
        ->capture_default_str();
    cmd->add_option("--redis-url", cfg->redis_url,
                    "Redis holding the API keys' limit counters for every API server (redis://host:port[/db]); "
                    "unset = each server counts its own")
        ->envname("LLMPROXY_REDIS_URL");
    auto redis_ms = std::make_shared<std::int64_t>(cfg->redis_timeout.count());
    cmd->add_option("--redis-timeout-ms", *redis_ms,
                    "Redis slower than this counts as down: limits count in this process until it is back")
        ->envname("LLMPROXY_REDIS_TIMEOUT_MS")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{60000}))
        ->capture_default_str();
    // The "minute" of per-minute limits: hidden, for tests that cannot wait a minute.
    auto window_ms = std::make_shared<std::int64_t>(cfg->limit_window.count());
    cmd->add_option("--limit-window-ms", *window_ms)
        ->envname("LLMPROXY_LIMIT_WINDOW_MS")
        ->check(CLI::Range(std::int64_t{100}, std::int64_t{3600000}))
        ->group("");
    cmd->callback([cfg, common, idle_ms, confirm_ms, timeout_ms, max_timeout_ms, drain_ms, write_ms, read_ms,
                   keepalive_ms, port_file, auth, redis_ms, window_ms, fair_share, responses_db, aliases, &exit_code] {
        auto parsed_aliases = api::model_aliases::parse(*aliases);
        if (!parsed_aliases) {
            std::fprintf(stderr, "llmproxy api: --model-alias: %s\n", parsed_aliases.error().message.c_str());
            exit_code = 2;
            return;
        }
        cfg->aliases = std::move(parsed_aliases.value());
        if (*timeout_ms > *max_timeout_ms) {
            std::fprintf(stderr, "llmproxy api: --request-timeout-ms (%lld) exceeds --max-request-timeout-ms (%lld)\n",
                         static_cast<long long>(*timeout_ms), static_cast<long long>(*max_timeout_ms));
            exit_code = 2;
            return;
        }
        llmp::log::setup(common->log_level, "api");
        cfg->stream_idle_timeout = std::chrono::milliseconds{*idle_ms};
        cfg->delivery_confirm_interval = std::chrono::milliseconds{*confirm_ms};
        cfg->write_timeout = std::chrono::milliseconds{*write_ms};
        cfg->read_timeout = std::chrono::milliseconds{*read_ms};
        cfg->idle_timeout = std::chrono::milliseconds{*keepalive_ms};
        cfg->request_timeout = std::chrono::milliseconds{*timeout_ms};
        cfg->max_request_timeout = std::chrono::milliseconds{*max_timeout_ms};
        cfg->drain_timeout = std::chrono::milliseconds{*drain_ms};
        cfg->auth = *auth == "keys" ? api::auth_mode::keys : api::auth_mode::none;
        cfg->redis_timeout = std::chrono::milliseconds{*redis_ms};
        cfg->limit_window = std::chrono::milliseconds{*window_ms};
        cfg->fair_share = *fair_share == "on";
        cfg->responses_db = *responses_db == "on";
        auto log = llmp::log::get("api");
        log->info(
            "msg=\"config\" amqp_url={} prefix={} listen={}:{} body_limit={} request_timeout_ms={} "
            "max_request_timeout_ms={} write_timeout_ms={} read_timeout_ms={} idle_timeout_ms={} "
            "max_connections={} max_connections_per_ip={} auth={} redis_url={} model_aliases={} responses_db={}",
            mask_url(cfg->broker.url), cfg->broker.prefix, cfg->listen_address, cfg->port, cfg->body_limit, *timeout_ms,
            *max_timeout_ms, *write_ms, *read_ms, *keepalive_ms, cfg->max_connections, cfg->max_connections_per_ip,
            *auth, cfg->redis_url.empty() ? "none" : mask_url(cfg->redis_url), cfg->aliases.list().size(),
            *responses_db);
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
