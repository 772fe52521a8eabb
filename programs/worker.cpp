#include "common/logging.hpp"
#include "programs/commands.hpp"
#include "programs/common_options.hpp"
#include "worker/worker_service.hpp"

namespace llmp::programs {

void add_worker_command(CLI::App& app, int& exit_code) {
    auto* cmd = app.add_subcommand("worker", "LLM worker: takes requests from the queue and calls a provider");
    auto cfg = std::make_shared<worker::worker_config>();
    auto common = std::make_shared<common_options>();
    add_broker_options(*cmd, cfg->broker);
    add_log_options(*cmd, *common);
    auto& p = cfg->provider;
    cmd->add_option("--provider", p.type, "mock or ollama")
        ->envname("LLMPROXY_PROVIDER")
        ->check(CLI::IsMember({"mock", "ollama"}))
        ->capture_default_str();
    cmd->add_option("--concurrency", cfg->concurrency, "generations at once (and AMQP prefetch)")
        ->envname("LLMPROXY_WORKER_CONCURRENCY")
        ->check(CLI::Range(1, 65535))
        ->capture_default_str();
    cmd->add_option("--io-threads", cfg->io_threads, "I/O threads for provider connections")
        ->envname("LLMPROXY_WORKER_IO_THREADS")
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    cmd->add_option("--worker-id", cfg->worker_id, "unique id of this worker (default: generated)")
        ->envname("LLMPROXY_WORKER_ID");
    auto hb_ms = std::make_shared<std::int64_t>(cfg->heartbeat_interval.count());
    cmd->add_option("--heartbeat-ms", *hb_ms, "heartbeat period")
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
    cmd->add_option("--ollama-url", p.ollama.url, "Ollama base URL")
        ->envname("OLLAMA_URL")
        ->capture_default_str();
    auto idle_ms = std::make_shared<std::int64_t>(p.ollama.idle_timeout.count());
    cmd->add_option("--upstream-idle-timeout-ms", *idle_ms, "longest silence from the upstream mid-stream")
        ->envname("LLMPROXY_UPSTREAM_IDLE_TIMEOUT_MS")
        ->capture_default_str();
    cmd->callback([cfg, common, hb_ms, drain_ms, delay_us, idle_ms, &exit_code] {
        llmp::log::setup(common->log_level, "worker");
        cfg->heartbeat_interval = std::chrono::milliseconds{*hb_ms};
        cfg->drain_timeout = std::chrono::milliseconds{*drain_ms};
        cfg->provider.mock.token_delay = std::chrono::microseconds{*delay_us};
        cfg->provider.ollama.idle_timeout = std::chrono::milliseconds{*idle_ms};
        auto log = llmp::log::get("worker");
        log->info("msg=\"config\" amqp_url={} prefix={} provider={} concurrency={} ollama_url={}",
                  mask_url(cfg->broker.url), cfg->broker.prefix, cfg->provider.type, cfg->concurrency,
                  cfg->provider.ollama.url);
        worker::worker_service svc{*cfg};
        if (auto r = svc.start(); !r) {
            log->critical("msg=\"cannot start\" error=\"{}\"", r.error().message);
            std::fprintf(stderr, "llmproxy worker: %s\n", r.error().message.c_str());
            exit_code = 1;
            return;
        }
        exit_code = svc.run();
    });
}

}  // namespace llmp::programs
