#pragma once
// Options every process shares: broker and logging.

#include "broker/config.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

namespace llmp::programs {

struct common_options {
    std::string log_level = "info";
};

inline void add_broker_options(CLI::App& cmd, broker::broker_config& b) {
    cmd.add_option("--amqp-url", b.url, "RabbitMQ URL")->envname("LLMPROXY_AMQP_URL")->capture_default_str();
    cmd.add_option("--amqp-prefix", b.prefix, "prefix of exchange and queue names")
        ->envname("LLMPROXY_AMQP_PREFIX")
        ->capture_default_str();
    cmd.add_option("--amqp-heartbeat", b.heartbeat_s, "AMQP heartbeat in seconds")
        ->envname("LLMPROXY_AMQP_HEARTBEAT")
        ->capture_default_str();
    cmd.add_option("--work-queue-max-length", b.work_queue_max_length,
                   "bound of the work queue; past it requests get 503 (fixed once the queue exists)")
        ->envname("LLMPROXY_WORK_QUEUE_MAX_LENGTH")
        ->capture_default_str();
}

inline void add_log_options(CLI::App& cmd, common_options& o) {
    cmd.add_option("--log-level", o.log_level, "trace, debug, info, warn, error")
        ->envname("LLMPROXY_LOG_LEVEL")
        ->capture_default_str();
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

/// The URL with its password masked, for logs.
inline std::string mask_url(const std::string& url) {
    auto scheme = url.find("://");
    auto at = url.rfind('@');
    if (scheme == std::string::npos || at == std::string::npos || at < scheme) {
        return url;
    }
    auto colon = url.find(':', scheme + 3);
    if (colon == std::string::npos || colon > at) {
        return url;
    }
    return url.substr(0, colon + 1) + "***" + url.substr(at);
}

}  // namespace llmp::programs
