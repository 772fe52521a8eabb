#include "support/cluster.hpp"

#include "common/ids.hpp"
#include "support/sync_http.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace llmp::testing {

using namespace std::chrono_literals;

std::optional<std::string> test_amqp_url() {
    const char* url = std::getenv("LLMPROXY_TEST_AMQP_URL");
    if (url == nullptr || *url == '\0') {
        return std::nullopt;
    }
    return std::string{url};
}

cluster::cluster(std::string amqp_url, std::string prefix)
    : amqp_url_{std::move(amqp_url)},
      prefix_{prefix.empty() ? new_component_id("t") : std::move(prefix)},
      dir_{test_output_dir()} {}

cluster::~cluster() {
    // Every llmproxy process still running is stopped with SIGTERM and must exit 0: that is the
    // graceful-shutdown contract, and under ASan/LSan a leak or memory error makes the exit
    // code non-zero, so this is where those surface. (Processes a test killed on purpose have
    // already exited and are not checked.)
    std::vector<child_process*> checked;
    for (const auto* group : {&apis_, &workers_, &audits_, &monitors_}) {
        for (const auto& p : *group) {
            if (p->running()) {
                checked.push_back(p.get());
            }
        }
    }
    // APIs first (they hold the client streams), then workers, then audit.
    for (auto* p : checked) {
        p->signal(SIGTERM);
    }
    for (auto* p : checked) {
        // One SIGTERM only: a second one could land after the process has taken down its
        // signal handling on the way out, and kill it.
        auto waited = p->wait_exit(20s);
        int code = waited ? *waited : p->stop(1s);
        if (code != 0) {
            auto log = p->log();
            ADD_FAILURE() << p->name() << " exited with " << code << " after SIGTERM; end of its log:\n"
                          << log.substr(log.size() > 6000 ? log.size() - 6000 : 0);
        }
    }
    for (auto& p : others_) {
        p->stop(5s);
    }
}

unsigned cluster::start_api(std::vector<std::string> extra_args, std::vector<std::string> env) {
    int n = ++counter_;
    auto port_file = dir_ / ("api-" + std::to_string(n) + ".port");
    std::vector<std::string> argv{LLMPROXY_BIN, "api",       "--port",        "0",
                                  "--listen",   "127.0.0.1", "--port-file",   port_file.string(),
                                  "--amqp-url", amqp_url_,   "--amqp-prefix", prefix_};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    apis_.push_back(std::make_unique<child_process>("api-" + std::to_string(n), std::move(argv), std::move(env),
                                                    dir_ / ("api-" + std::to_string(n) + ".log")));
    auto port = read_port_file(port_file, 30s, apis_.back().get());
    if (!port) {
        throw std::runtime_error("api did not start; log:\n" + apis_.back()->log());
    }
    return *port;
}

namespace {

/// Unless the test chose one, a free metrics port (the default one would collide between
/// processes and tests); returns the port file to read it from (empty when the test chose).
std::filesystem::path add_metrics_port(std::vector<std::string>& argv, const std::filesystem::path& file) {
    for (const auto& a : argv) {
        if (a == "--metrics-port" || a.rfind("--metrics-port=", 0) == 0) {
            return {};
        }
    }
    argv.insert(argv.end(),
                {"--metrics-listen", "127.0.0.1", "--metrics-port", "0", "--metrics-port-file", file.string()});
    return file;
}

}  // namespace

unsigned cluster::metrics_port(child_process& p) {
    for (const auto& [proc, file] : metrics_port_files_) {
        if (proc == &p && !file.empty()) {
            auto port = read_port_file(file, 30s, &p);
            if (!port) {
                throw std::runtime_error(p.name() + " did not write its metrics port; log:\n" + p.log());
            }
            return *port;
        }
    }
    throw std::logic_error(p.name() + " has no metrics port file (the test chose --metrics-port)");
}

child_process& cluster::start_worker(std::vector<std::string> extra_args, std::vector<std::string> env) {
    int n = ++counter_;
    std::vector<std::string> argv{LLMPROXY_BIN, "worker", "--amqp-url", amqp_url_, "--amqp-prefix", prefix_};
    if (std::find(extra_args.begin(), extra_args.end(), "--heartbeat-ms") == extra_args.end()) {
        argv.insert(argv.end(), {"--heartbeat-ms", "500"});
    }
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    auto metrics_file = add_metrics_port(argv, dir_ / ("worker-" + std::to_string(n) + ".metrics-port"));
    workers_.push_back(std::make_unique<child_process>("worker-" + std::to_string(n), std::move(argv), std::move(env),
                                                       dir_ / ("worker-" + std::to_string(n) + ".log")));
    metrics_port_files_.emplace_back(workers_.back().get(), metrics_file);
    // From main() on a worker holds SIGTERM until its handler exists (common/stop_signals.hpp),
    // but one that arrives before main() (exec, dynamic loading) still kills it with 143. Waiting
    // for "worker started" keeps every test's shutdown graceful and every test starting from a
    // ready worker. A worker that fails to start ends the wait early (it has exited).
    workers_.back()->wait_for_log("msg=\"worker started\"", 15s);
    return *workers_.back();
}

child_process& cluster::start_audit(const std::string& database_url, std::vector<std::string> extra_args,
                                    std::vector<std::string> env) {
    int n = ++counter_;
    std::vector<std::string> argv{LLMPROXY_BIN,    "audit", "--amqp-url",     amqp_url_,
                                  "--amqp-prefix", prefix_, "--database-url", database_url};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    auto metrics_file = add_metrics_port(argv, dir_ / ("audit-" + std::to_string(n) + ".metrics-port"));
    audits_.push_back(std::make_unique<child_process>("audit-" + std::to_string(n), std::move(argv), std::move(env),
                                                      dir_ / ("audit-" + std::to_string(n) + ".log")));
    auto& p = *audits_.back();
    metrics_port_files_.emplace_back(&p, metrics_file);
    if (!p.wait_for_log("msg=\"audit started\"", 30s)) {
        throw std::runtime_error("audit did not start; log:\n" + p.log());
    }
    return p;
}

unsigned cluster::start_monitor(const std::string& database_url, std::vector<std::string> extra_args,
                                std::vector<std::string> env) {
    int n = ++counter_;
    auto port_file = dir_ / ("monitor-" + std::to_string(n) + ".port");
    const char* mgmt = std::getenv("LLMPROXY_TEST_RABBITMQ_MGMT_URL");
    std::vector<std::string> argv{LLMPROXY_BIN,    "monitor",     "--port",           "0",          "--listen",
                                  "127.0.0.1",     "--port-file", port_file.string(), "--amqp-url", amqp_url_,
                                  "--amqp-prefix", prefix_,       "--database-url",   database_url};
    if (std::find(extra_args.begin(), extra_args.end(), "--rabbitmq-mgmt-url") == extra_args.end()) {
        argv.insert(argv.end(), {"--rabbitmq-mgmt-url", mgmt != nullptr ? mgmt : ""});
    }
    // The monitor's default is --auth keys; tests of other things read it without keys, and
    // say so here. Tests of its access control pass --auth keys.
    if (std::find(extra_args.begin(), extra_args.end(), "--auth") == extra_args.end()) {
        argv.insert(argv.end(), {"--auth", "none"});
    }
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    monitors_.push_back(std::make_unique<child_process>("monitor-" + std::to_string(n), std::move(argv), std::move(env),
                                                        dir_ / ("monitor-" + std::to_string(n) + ".log")));
    auto port = read_port_file(port_file, 30s, monitors_.back().get());
    if (!port) {
        throw std::runtime_error("monitor did not start; log:\n" + monitors_.back()->log());
    }
    return *port;
}

unsigned cluster::start_fake_ollama(std::vector<std::string> extra_args) {
    int n = ++counter_;
    std::vector<std::string> argv{LLMPROXY_FAKE_OLLAMA_BIN, "--port", "0"};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    others_.push_back(std::make_unique<child_process>("fake-ollama-" + std::to_string(n), std::move(argv),
                                                      std::vector<std::string>{},
                                                      dir_ / ("fake-ollama-" + std::to_string(n) + ".log")));
    auto& p = *others_.back();
    constexpr std::string_view marker = "listening on 127.0.0.1:";
    if (!p.wait_for_log(marker, 30s)) {
        throw std::runtime_error("fake ollama did not start; log:\n" + p.log());
    }
    auto log = p.log();
    auto port = static_cast<unsigned>(std::stoul(log.substr(log.find(marker) + marker.size())));
    fakes_.emplace_back(port, &p);
    return port;
}

unsigned cluster::start_fake_openai(std::vector<std::string> extra_args, std::vector<std::string> env) {
    int n = ++counter_;
    auto port_file = dir_ / ("fake-openai-" + std::to_string(n) + ".port");
    std::vector<std::string> argv{LLMPROXY_FAKE_OPENAI_BIN, "--port", "0", "--port-file", port_file.string()};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    others_.push_back(std::make_unique<child_process>("fake-openai-" + std::to_string(n), std::move(argv),
                                                      std::move(env),
                                                      dir_ / ("fake-openai-" + std::to_string(n) + ".log")));
    auto& p = *others_.back();
    auto port = read_port_file(port_file, 30s, &p);
    if (!port) {
        throw std::runtime_error("fake openai did not start; log:\n" + p.log());
    }
    fakes_.emplace_back(*port, &p);
    return *port;
}

child_process& cluster::fake_ollama(unsigned port) {
    for (auto& [p, proc] : fakes_) {
        if (p == port) {
            return *proc;
        }
    }
    throw std::logic_error("no fake ollama on port " + std::to_string(port));
}

bool cluster::wait_for_model(unsigned port, const std::string& model, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        auto r = http_get(port, "/api/models");
        if (r.status == 200) {
            auto j = nlohmann::json::parse(r.body, nullptr, false);
            if (j.is_object() && j["models"].is_array()) {
                for (const auto& m : j["models"]) {
                    if (m.value("name", "") == model) {
                        return true;
                    }
                }
            }
        }
        std::this_thread::sleep_for(20ms);
    }
    return false;
}

std::string cluster::logs() const {
    std::string out;
    for (const auto* group : {&apis_, &workers_, &audits_, &monitors_, &others_}) {
        for (const auto& p : *group) {
            out += "----- " + p->name() + " -----\n" + p->log();
        }
    }
    return out;
}

}  // namespace llmp::testing
