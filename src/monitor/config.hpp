#pragma once
// monitor_config: everything `llmproxy monitor` needs (style.md §7: a plain struct, bound to
// CLI flags in programs/monitor.cpp, validated once at start-up).

#include "broker/config.hpp"
#include "common/result.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace llmp::monitor {

/// Who may read the monitor (monitor_auth.hpp). keys: admin and viewer keys, the default (the
/// monitor shows every stored prompt and answer; nobody should read them by merely reaching
/// the port). none: everyone is an admin.
enum class auth_mode { none, keys };

/// The Secure attribute of the session cookie: automatic = when the request came over HTTPS
/// through a proxy (monitor_auth::secure_cookie).
enum class cookie_secure_mode { automatic, always, never };

struct monitor_config {
    /// Address and port of the HTTP server (dashboard and /api/). Loopback by default: serving
    /// other hosts is an explicit choice (--listen 0.0.0.0).
    std::string listen_address = "127.0.0.1";
    std::uint16_t port = 8081;
    /// I/O threads of the HTTP server.
    int io_threads = 1;
    /// PostgreSQL with the audit schema (env LLMPROXY_DATABASE_URL).
    std::string database_url = "postgresql://postgres@127.0.0.1:5432/llmproxy";
    /// RabbitMQ management API base URL, e.g. http://127.0.0.1:15672 (empty = queues unknown).
    std::string rabbitmq_mgmt_url = "http://127.0.0.1:15672";
    std::string rabbitmq_mgmt_user = "guest";
    std::string rabbitmq_mgmt_password = "guest";
    /// The broker: heartbeats come from its control exchange; the prefix names the queues.
    broker::broker_config broker;
    /// Directory of the built dashboard (web/dist); served at /.
    std::string web_dir;
    /// How often the queue depths are sampled from the management API.
    std::chrono::milliseconds queue_poll_interval{2000};
    /// --ingest-stall-seconds: audit ingest is red in /api/status once the audit queues hold
    /// messages and no row was stored for this long (ingest_health.hpp).
    std::chrono::milliseconds ingest_stall_after{15000};
    /// A worker whose last heartbeat is older than this is shown as "stale".
    std::chrono::milliseconds worker_stale_after{6000};
    /// Database connections (one thread each) serving the /api/ queries.
    int db_threads = 2;
    /// Longest a query may run (statement_timeout).
    std::chrono::milliseconds query_timeout{10000};
    /// --auth: who may read /api/ (monitor_auth.hpp).
    auth_mode auth = auth_mode::keys;
    /// --allowed-hosts: the names the monitor is reached by (host_guard.hpp); empty = the
    /// defaults (localhost, 127.0.0.1, [::1], the listen address); "*" = any.
    std::vector<std::string> allowed_hosts;
    /// --cookie-secure.
    cookie_secure_mode cookie_secure = cookie_secure_mode::automatic;
    /// --session-ttl-minutes: how long a login lasts.
    std::chrono::minutes session_ttl{720};
    /// How often the keys are reloaded from PostgreSQL (a revoked key stops working within it).
    std::chrono::milliseconds key_refresh_interval{1000};

    result<void> validate() const;
};

}  // namespace llmp::monitor
