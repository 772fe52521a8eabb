#include "common/logging.hpp"
#include "common/stop_signals.hpp"
#include "programs/commands.hpp"
#include "programs/common_options.hpp"
#include "providers/factory.hpp"
#include "providers/upstream_policy.hpp"
#include "worker/worker_service.hpp"

#include <cstdlib>

namespace llmp::programs {

void add_worker_command(CLI::App& app, int& exit_code) {
    auto* cmd = app.add_subcommand("worker", "LLM worker: takes requests from the queue and calls a provider");
    auto cfg = std::make_shared<worker::worker_config>();
    auto common = std::make_shared<common_options>();
    add_broker_options(*cmd, cfg->broker);
    add_log_options(*cmd, *common);
    add_metrics_options(*cmd, *common, 9401);
    auto& p = cfg->provider;
    cmd->add_option("--provider", p.type, "mock, ollama or openai (ignored with --upstream)")
        ->envname("LLMPROXY_PROVIDER")
        ->check(CLI::IsMember({"mock", "ollama", "openai"}))
        ->capture_default_str();
    cmd->add_option("--concurrency", cfg->concurrency, "generations at once")
        ->envname("LLMPROXY_WORKER_CONCURRENCY")
        ->check(CLI::Range(1, 65535))
        ->capture_default_str();
    cmd->add_option("--prefetch-headroom", cfg->prefetch_headroom,
                    "the AMQP prefetch is --concurrency plus the answers awaiting the broker's confirm, at most "
                    "this many (-1: --concurrency; 0: off), so the next request comes while they wait")
        ->envname("LLMPROXY_WORKER_PREFETCH_HEADROOM")
        ->check(CLI::Range(-1, 65535))
        ->capture_default_str();
    cmd->add_option("--io-threads", cfg->io_threads, "I/O threads for provider connections")
        ->envname("LLMPROXY_WORKER_IO_THREADS")
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    cmd->add_option("--worker-id", cfg->worker_id, "unique id of this worker (default: generated)")
        ->envname("LLMPROXY_WORKER_ID");
    auto hb_ms = std::make_shared<std::int64_t>(cfg->heartbeat_interval.count());
    cmd->add_option("--heartbeat-ms", *hb_ms, "heartbeat period; also how often the provider's models are re-read")
        ->envname("LLMPROXY_HEARTBEAT_MS")
        ->capture_default_str();
    auto drain_ms = std::make_shared<std::int64_t>(cfg->drain_timeout.count());
    cmd->add_option("--drain-timeout-ms", *drain_ms, "on SIGTERM, how long generations in flight may finish")
        ->envname("LLMPROXY_DRAIN_TIMEOUT_MS")
        ->capture_default_str();
    // mock provider
    cmd->add_option("--mock-models", p.mock.models, "models the mock serves")
        ->envname("LLMPROXY_MOCK_MODELS")
        ->delimiter(',')
        ->capture_default_str();
    cmd->add_option("--mock-tokens", p.mock.tokens, "tokens per mock answer (options.num_predict overrides)")
        ->envname("LLMPROXY_MOCK_TOKENS")
        ->capture_default_str();
    auto delay_us = std::make_shared<std::int64_t>(p.mock.token_delay.count());
    cmd->add_option("--mock-token-delay-us", *delay_us, "delay before each mock token, microseconds")
        ->envname("LLMPROXY_MOCK_TOKEN_DELAY_US")
        ->capture_default_str();
    // ollama provider
    cmd->add_option("--ollama-url", p.ollama.url, "Ollama base URL")->envname("OLLAMA_URL")->capture_default_str();
    // openai provider (any OpenAI-compatible server)
    cmd->add_option("--openai-url", p.openai.url,
                    "OpenAI-compatible base URL (http://host:8000/v1; without a path /v1 is added). "
                    "API key from LLMPROXY_OPENAI_API_KEY or OPENAI_API_KEY")
        ->envname("LLMPROXY_OPENAI_URL")
        ->capture_default_str();
    // several upstreams (the pool provider)
    auto upstreams = std::make_shared<std::vector<std::string>>();
    cmd->add_option("--upstream", *upstreams,
                    "TYPE=URL, repeatable (ollama=http://a:11434 openai=http://c:8000/v1): spread "
                    "generations over several upstreams; replaces --provider")
        ->envname("LLMPROXY_UPSTREAMS")
        ->delimiter(',');
    auto idle_ms = std::make_shared<std::int64_t>(p.ollama.idle_timeout.count());
    cmd->add_option("--upstream-idle-timeout-ms", *idle_ms, "longest silence from the upstream mid-stream")
        ->envname("LLMPROXY_UPSTREAM_IDLE_TIMEOUT_MS")
        ->capture_default_str();
    // What a client may ask of the upstream (providers/upstream_policy.hpp).
    auto& policy = p.policy;
    cmd->add_option("--max-tokens", policy.max_tokens,
                    "most tokens one generation may produce: a larger num_predict / max_tokens, Ollama's "
                    "unbounded -1/-2, or none at all is clamped to it (done_reason \"length\" when it cuts)")
        ->envname("LLMPROXY_MAX_TOKENS")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 30))
        ->capture_default_str();
    auto max_tokens_for = std::make_shared<std::vector<std::string>>();
    cmd->add_option("--max-tokens-for", *max_tokens_for,
                    "MODEL=N, repeatable: a per-model --max-tokens (e.g. llama3.2=8192)")
        ->envname("LLMPROXY_MAX_TOKENS_FOR")
        ->delimiter(',');
    cmd->add_option("--max-num-ctx", policy.max_num_ctx,
                    "ceiling for a client's options.num_ctx (context window = upstream KV cache size)")
        ->envname("LLMPROXY_MAX_NUM_CTX")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 30))
        ->capture_default_str();
    cmd->add_option("--allow-client-options", policy.allowed_client_options,
                    "load/hardware options and pass-through keys clients may set (e.g. "
                    "keep_alive,num_gpu,num_thread); by default only sampling options pass")
        ->envname("LLMPROXY_ALLOW_CLIENT_OPTIONS")
        ->delimiter(',');
    cmd->add_flag("--allow-remote-images", policy.allow_remote_images,
                  "pass http(s) image URLs to the upstream (which would fetch them); by default only "
                  "data: URLs and base64 images")
        ->envname("LLMPROXY_ALLOW_REMOTE_IMAGES");
    cmd->add_option("--max-deliveries", cfg->max_deliveries,
                    "deliveries of one request before it is dead-lettered as a poison message")
        ->envname("LLMPROXY_MAX_DELIVERIES")
        ->check(CLI::Range(1, 1000))
        ->capture_default_str();
    cmd->add_option("--multiplex-chunks", cfg->multiplex_chunks,
                    "true: one broker message per API server per flush carries the chunks of all its "
                    "streams (<server-id>.chunks); false: a message per stream (<server-id>.chunk), for "
                    "API servers that predate it")
        ->envname("LLMPROXY_MULTIPLEX_CHUNKS")
        ->capture_default_str();
    auto flush_us = std::make_shared<std::int64_t>(cfg->chunk_flush_interval.count());
    cmd->add_option("--chunk-flush-us", *flush_us,
                    "a busy worker sends a stream's chunks at most this long after they come (an idle one "
                    "at once): more tokens per broker message, at most this much added latency")
        ->envname("LLMPROXY_CHUNK_FLUSH_US")
        ->check(CLI::Range(std::int64_t{0}, std::int64_t{1'000'000}))
        ->capture_default_str();
    // No environment variable on purpose: a deployment cannot switch it on by accident.
    cmd->add_flag("--enable-test-triggers", p.mock.test_triggers,
                  "TESTS ONLY: the mock obeys [[mock:abort]] / [[mock:throw]] in prompts (a client could "
                  "then kill this worker)");
    cmd->callback([cfg, common, hb_ms, drain_ms, delay_us, idle_ms, flush_us, upstreams, max_tokens_for, &exit_code] {
        llmp::log::setup(common->log_level, "worker");
        cfg->heartbeat_interval = std::chrono::milliseconds{*hb_ms};
        cfg->drain_timeout = std::chrono::milliseconds{*drain_ms};
        cfg->chunk_flush_interval = std::chrono::microseconds{*flush_us};
        cfg->provider.mock.token_delay = std::chrono::microseconds{*delay_us};
        cfg->provider.ollama.idle_timeout = std::chrono::milliseconds{*idle_ms};
        cfg->provider.openai.idle_timeout = std::chrono::milliseconds{*idle_ms};
        // The key comes from the environment only (a flag would show in `ps`), and is never logged.
        for (const char* var : {"LLMPROXY_OPENAI_API_KEY", "OPENAI_API_KEY"}) {
            if (const char* key = std::getenv(var); key != nullptr && *key != '\0') {
                cfg->provider.openai.api_key = key;
                break;
            }
        }
        auto log = llmp::log::get("worker");
        for (const auto& spec : *upstreams) {
            auto u = providers::parse_upstream(spec);
            if (!u) {
                std::fprintf(stderr, "llmproxy worker: %s\n", u.error().message.c_str());
                exit_code = 2;
                return;
            }
            cfg->provider.upstreams.push_back(std::move(u).value());
        }
        for (const auto& spec : *max_tokens_for) {
            auto cap = providers::parse_model_cap(spec);
            if (!cap) {
                std::fprintf(stderr, "llmproxy worker: %s\n", cap.error().message.c_str());
                exit_code = 2;
                return;
            }
            cfg->provider.policy.max_tokens_for.push_back(std::move(cap).value());
        }
        std::string upstream_list;
        for (const auto& u : cfg->provider.upstreams) {
            upstream_list += (upstream_list.empty() ? "" : ",") + u.type + "=" + mask_url(u.url);
        }
        const bool has_key = !cfg->provider.openai.api_key.empty();
        log->info(
            "msg=\"config\" amqp_url={} prefix={} provider={} concurrency={} ollama_url={} openai_url={} "
            "openai_api_key={} upstreams={} multiplex_chunks={} chunk_flush_us={}",
            mask_url(cfg->broker.url), cfg->broker.prefix,
            cfg->provider.upstreams.empty() ? cfg->provider.type : std::string{"pool"}, cfg->concurrency,
            mask_url(cfg->provider.ollama.url), mask_url(cfg->provider.openai.url), has_key ? "set" : "none",
            upstream_list.empty() ? std::string{"-"} : upstream_list, cfg->multiplex_chunks,
            cfg->chunk_flush_interval.count());
        const auto& pol = cfg->provider.policy;
        std::string caps;
        for (const auto& [model, n] : pol.max_tokens_for) {
            caps += (caps.empty() ? "" : ",") + model + "=" + std::to_string(n);
        }
        std::string allowed;
        for (const auto& o : pol.allowed_client_options) {
            allowed += (allowed.empty() ? "" : ",") + o;
        }
        log->info(
            "msg=\"upstream policy\" max_tokens={} max_tokens_for={} max_num_ctx={} allow_client_options={} "
            "allow_remote_images={} max_deliveries={} test_triggers={}",
            pol.max_tokens, caps.empty() ? std::string{"-"} : caps, pol.max_num_ctx,
            allowed.empty() ? std::string{"-"} : allowed, pol.allow_remote_images, cfg->max_deliveries,
            cfg->provider.mock.test_triggers);
        worker::worker_service svc{*cfg};
        unblock_stop_signals();  // its signal_set exists: a SIGTERM from now on stops it gracefully
        if (auto r = svc.start(); !r) {
            log->critical("msg=\"cannot start\" error=\"{}\"", r.error().message);
            std::fprintf(stderr, "llmproxy worker: %s\n", r.error().message.c_str());
            exit_code = 1;
            return;
        }
        auto exporter = start_metrics_exporter(*common, svc.metrics_registry());
        if (!exporter) {
            std::fprintf(stderr, "llmproxy worker: %s\n", exporter.error().message.c_str());
            exit_code = 1;
            return;
        }
        if (exporter.value()) {
            log->info("msg=\"metrics server started\" listen={}:{}", common->metrics.listen_address,
                      exporter.value()->port());
        }
        exit_code = svc.run();
    });
}

}  // namespace llmp::programs
