#include "monitor/config.hpp"

namespace llmp::monitor {

result<void> monitor_config::validate() const {
    if (database_url.empty()) {
        return fail("invalid_config", "--database-url is required (or LLMPROXY_DATABASE_URL)");
    }
    if (io_threads < 1 || db_threads < 1) {
        return fail("invalid_config", "--io-threads and --db-threads must be at least 1");
    }
    if (!rabbitmq_mgmt_url.empty() && rabbitmq_mgmt_url.rfind("http://", 0) != 0) {
        return fail("invalid_config", "--rabbitmq-mgmt-url must be an http:// URL");
    }
    if (queue_poll_interval.count() < 100) {
        return fail("invalid_config", "--queue-poll-ms must be at least 100");
    }
    if (session_ttl.count() < 1) {
        return fail("invalid_config", "--session-ttl-minutes must be at least 1");
    }
    return ok();
}

}  // namespace llmp::monitor
