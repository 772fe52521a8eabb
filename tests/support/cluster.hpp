#pragma once
// cluster: a set of llmproxy processes (api servers, workers) for one end-to-end test, against
// the test RabbitMQ (LLMPROXY_TEST_AMQP_URL), under a name prefix of its own so tests never
// share queues. The destructor stops every process (SIGTERM, then SIGKILL).

#include "support/child_process.hpp"

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace llmp::testing {

/// The test broker's URL, or nullopt (the test should skip: scripts/test always sets it).
std::optional<std::string> test_amqp_url();

class cluster {
public:
    /// `prefix` empty = a fresh unique one.
    explicit cluster(std::string amqp_url, std::string prefix = {});
    ~cluster();

    /// Starts `llmproxy api` with extra args; returns its port once it listens.
    unsigned start_api(std::vector<std::string> extra_args = {}, std::vector<std::string> env = {});
    /// Starts `llmproxy worker` with extra args.
    child_process& start_worker(std::vector<std::string> extra_args = {}, std::vector<std::string> env = {});
    /// Starts `llmproxy audit` storing into `database_url`; returns once it consumes the audit
    /// queues (throws if it does not start).
    child_process& start_audit(const std::string& database_url, std::vector<std::string> extra_args = {},
                               std::vector<std::string> env = {});
    /// Starts `llmproxy monitor` reading `database_url` (and the test broker's heartbeats and,
    /// with LLMPROXY_TEST_RABBITMQ_MGMT_URL, its management API); returns its port once it listens.
    /// With `--auth none` unless extra_args has an --auth of its own.
    unsigned start_monitor(const std::string& database_url, std::vector<std::string> extra_args = {},
                           std::vector<std::string> env = {});
    /// Starts the fake Ollama server (tests/support/fake_ollama); returns its port.
    unsigned start_fake_ollama(std::vector<std::string> extra_args = {});
    /// The fake Ollama process listening on `port`.
    child_process& fake_ollama(unsigned port);
    /// Starts the fake OpenAI-compatible server (tests/support/fake_openai) with extra args and
    /// environment (e.g. FAKE_OPENAI_API_KEY=...); returns its port. Its base URL is
    /// http://127.0.0.1:<port>/v1.
    unsigned start_fake_openai(std::vector<std::string> extra_args = {}, std::vector<std::string> env = {});
    /// The fake OpenAI-compatible process listening on `port`.
    child_process& fake_openai(unsigned port) { return fake_ollama(port); }

    /// The port of the /metrics server of a worker or audit process started here (each gets a
    /// free one unless the test passed --metrics-port itself); waits for its port file.
    unsigned metrics_port(child_process& p);

    /// Waits until the API on `port` lists `model` (a worker announced it). False on timeout.
    bool wait_for_model(unsigned port, const std::string& model,
                        std::chrono::milliseconds timeout = std::chrono::seconds{30});
    const std::string& prefix() const { return prefix_; }
    const std::string& amqp_url() const { return amqp_url_; }
    const std::filesystem::path& dir() const { return dir_; }
    std::vector<std::unique_ptr<child_process>>& apis() { return apis_; }
    std::vector<std::unique_ptr<child_process>>& workers() { return workers_; }
    std::vector<std::unique_ptr<child_process>>& audits() { return audits_; }
    std::vector<std::unique_ptr<child_process>>& monitors() { return monitors_; }
    /// Every log, for a failure message.
    std::string logs() const;

private:
    std::string amqp_url_;
    std::string prefix_;
    std::filesystem::path dir_;
    std::vector<std::unique_ptr<child_process>> apis_;
    std::vector<std::unique_ptr<child_process>> workers_;
    std::vector<std::unique_ptr<child_process>> audits_;
    std::vector<std::unique_ptr<child_process>> monitors_;
    std::vector<std::unique_ptr<child_process>> others_;
    std::vector<std::pair<unsigned, child_process*>> fakes_;
    std::vector<std::pair<const child_process*, std::filesystem::path>> metrics_port_files_;
    int counter_ = 0;
};

}  // namespace llmp::testing
