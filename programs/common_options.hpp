#pragma once
// Options every process shares: broker and logging.

#include "broker/config.hpp"
#include "common/secret_mask.hpp"
#include "metrics/exporter.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>

namespace llmp::programs {

struct common_options {
    std::string log_level = "info";
    /// The /metrics server of worker and audit (add_metrics_options); the API serves its own.
    metrics::exporter_config metrics;
    std::string metrics_port_file;
};

inline void add_broker_options(CLI::App& cmd, broker::broker_config& b) {
    cmd.add_option("--amqp-url", b.url,
                   "RabbitMQ URL, or the URLs of a cluster's nodes comma separated (reconnects go to another node)")
        ->envname("LLMPROXY_AMQP_URL")
        ->capture_default_str();
    // Every process declares the shared queues: give them all the same type.
    cmd.add_option("--queue-type", b.queue_type,
                   "type of the shared work/audit queues: classic, or quorum (replicated; no priorities on "
                   "RabbitMQ 3.10; fixed once the queues exist)")
        ->envname("LLMPROXY_QUEUE_TYPE")
        ->check(CLI::IsMember({"classic", "quorum"}))
        ->capture_default_str();
    cmd.add_option("--amqp-prefix", b.prefix, "prefix of exchange and queue names")
        ->envname("LLMPROXY_AMQP_PREFIX")
        ->capture_default_str();
    cmd.add_option("--amqp-heartbeat", b.heartbeat_s, "AMQP heartbeat in seconds")
        ->envname("LLMPROXY_AMQP_HEARTBEAT")
        ->capture_default_str();
    cmd.add_option("--work-queue-max-length", b.work_queue_max_length,
                   "bound of each model's work queue; past it requests get 503 (fixed once the queue exists)")
        ->envname("LLMPROXY_WORK_QUEUE_MAX_LENGTH")
        ->capture_default_str();
    // Every process declares the topology, so every process takes this flag: give them all the
    // same value (a queue found with another bound is kept as it is, with a warning).
    cmd.add_option("--audit-queue-max-length", b.audit_queue_max_length,
                   "bound of each audit queue; past it publishes are refused (requests get 503), never "
                   "dropped; 0 = unbounded (fixed once the queue exists)")
        ->envname("LLMPROXY_AUDIT_QUEUE_MAX_LENGTH")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
}

inline void add_log_options(CLI::App& cmd, common_options& o) {
    cmd.add_option("--log-level", o.log_level, "trace, debug, info, warn, error")
        ->envname("LLMPROXY_LOG_LEVEL")
        ->capture_default_str();
}

/// --metrics-listen, --metrics-port, --metrics-port-file: the /metrics + /healthz server of a
/// process without an HTTP server of its own (worker, audit). `default_port` differs per process
/// type; several processes of one type on one host need distinct ports (or 0 = any free port).
inline void add_metrics_options(CLI::App& cmd, common_options& o, int default_port) {
    auto& m = o.metrics;
    auto& port_file = o.metrics_port_file;
    m.port = default_port;
    cmd.add_option("--metrics-listen", m.listen_address,
                   "address of the Prometheus /metrics server (default loopback only; 0.0.0.0 = every interface)")
        ->envname("LLMPROXY_METRICS_LISTEN")
        ->capture_default_str();
    cmd.add_option("--metrics-port", m.port, "port of the Prometheus /metrics server (0 = any free port, -1 = off)")
        ->envname("LLMPROXY_METRICS_PORT")
        ->check(CLI::Range(-1, 65535))
        ->capture_default_str();
    cmd.add_option("--metrics-port-file", port_file, "write the metrics port to this file once listening")
        ->envname("LLMPROXY_METRICS_PORT_FILE");
}

/// Writes "<port>\n" to `path` atomically (write a temp file, rename), so a reader never sees
/// a partial number.
inline void write_port_file(const std::string& path, unsigned port) {
    std::string tmp = path + ".tmp";
    if (std::FILE* f = std::fopen(tmp.c_str(), "w")) {
        std::fprintf(f, "%u\n", port);
        std::fclose(f);
        std::rename(tmp.c_str(), path.c_str());
    }
}

/// Starts the /metrics server set up by add_metrics_options (nullptr when turned off) and
/// writes its port file. The exporter must be destroyed before the registry's owner.
inline result<std::unique_ptr<metrics::exporter>> start_metrics_exporter(const common_options& o,
                                                                         const metrics::registry& reg) {
    if (o.metrics.port < 0) {
        return std::unique_ptr<metrics::exporter>{};
    }
    auto e = std::make_unique<metrics::exporter>(o.metrics, reg);
    if (auto r = e->start(); !r) {
        return r.error();
    }
    if (!o.metrics_port_file.empty()) {
        write_port_file(o.metrics_port_file, e->port());
    }
    return e;
}

/// A URL or connection string with its secrets masked, for logs (common/secret_mask.hpp).
inline std::string mask_url(const std::string& url) {
    return mask_secrets(url);
}

}  // namespace llmp::programs
