#include "broker/topology.hpp"

#include "broker/connection.hpp"
#include "broker/logger.hpp"

#include <cstdint>
#include <cstdio>

namespace llmp::broker {

topology::topology(const std::string& prefix)
    : requests_exchange{prefix + ".requests"},
      responses_exchange{prefix + ".responses"},
      control_exchange{prefix + ".control"},
      dead_exchange{prefix + ".dead"},
      work_exchange{prefix + ".work"},
      unrouted_exchange{prefix + ".work.unrouted"},
      work_queue{prefix + ".requests.work"},
      audit_requests_queue{prefix + ".audit.requests"},
      audit_responses_queue{prefix + ".audit.responses"},
      dead_queue{prefix + ".dead"},
      model_queue_prefix_{prefix + ".work."} {}

std::string topology::server_queue(std::string_view server_id) const {
    return responses_exchange + "." + std::string{server_id};
}

namespace {

/// AMQP short strings (queue names, routing keys) hold at most 255 bytes.
constexpr std::size_t max_short_string = 255;

/// FNV-1a, 64 bits: the same in every process and build (std::hash is not).
std::uint64_t fnv1a(std::string_view s) {
    std::uint64_t h = 14695981039346656037ULL;
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ULL;
    }
    return h;
}

}  // namespace

std::string topology::model_key(std::string_view model) const {
    constexpr std::size_t hash_len = 17;  // "~" + 16 hex digits
    const std::size_t room = max_short_string > model_queue_prefix_.size() + hash_len + 8
                                 ? max_short_string - model_queue_prefix_.size()
                                 : hash_len + 8;
    if (model.size() <= room) {
        return std::string{model};
    }
    std::size_t cut = room - hash_len;
    while (cut > 0 && (static_cast<unsigned char>(model[cut]) & 0xC0) == 0x80) {
        --cut;  // not inside a UTF-8 sequence: RabbitMQ wants names that are valid UTF-8
    }
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fnv1a(model)));
    return std::string{model.substr(0, cut)} + "~" + hex;
}

std::string topology::model_queue(std::string_view model) const {
    return model_queue_prefix_ + model_key(model);
}

std::string chunk_key(std::string_view server_id) {
    return std::string{server_id} + ".chunk";
}

std::string chunks_key(std::string_view server_id) {
    return std::string{server_id} + ".chunks";
}
std::string final_key(std::string_view server_id) {
    return std::string{server_id} + ".final";
}
std::string error_key(std::string_view server_id) {
    return std::string{server_id} + ".error";
}
std::string cancel_key(std::string_view request_id) {
    return "cancel." + std::string{request_id};
}

namespace {

bool is_quorum(const broker_config& cfg) {
    return cfg.queue_type == "quorum";
}

/// x-queue-type of the shared durable queues; nothing for classic (RabbitMQ's default, and the
/// arguments queues declared before this setting have).
void add_queue_type(queue_options& q, const broker_config& cfg) {
    if (is_quorum(cfg)) {
        q.arguments.emplace_back("x-queue-type", std::string{"quorum"});
    }
}

/// The arguments of every work queue (the model queues and work_queue). Fixed once a queue
/// exists, so a change here needs the queues re-created.
queue_options work_queue_options(const topology& t, const broker_config& cfg) {
    queue_options work;
    work.arguments = {{"x-max-length", std::int64_t{cfg.work_queue_max_length}},
                      {"x-overflow", std::string{"reject-publish"}},
                      {"x-dead-letter-exchange", t.dead_exchange}};
    if (is_quorum(cfg)) {
        // RabbitMQ 3.10's quorum queues refuse x-max-priority: they are FIFO (see topology.hpp).
        work.arguments.emplace_back("x-queue-type", std::string{"quorum"});
    } else {
        work.arguments.emplace_back("x-max-priority", std::int64_t{cfg.max_priority});
    }
    return work;
}

/// An audit queue, bounded with reject-publish: a full queue makes the publisher's confirm a
/// nack (the API answers 503), so a record is refused where it is made, never dropped here.
/// A queue declared before (by an older llmproxy, unbounded, or with another bound) keeps its
/// arguments: RabbitMQ cannot change them, and refusing to start over it would stop the
/// whole proxy at an upgrade. That is logged; a policy or re-creating the queue applies it.
result<void> declare_audit_queue(connection& conn, const std::string& name, const topology& t,
                                 const broker_config& cfg) {
    queue_options audit;
    audit.arguments = {{"x-dead-letter-exchange", t.dead_exchange}};
    if (cfg.audit_queue_max_length > 0) {
        audit.arguments.emplace_back("x-max-length", std::int64_t{cfg.audit_queue_max_length});
        audit.arguments.emplace_back("x-overflow", std::string{"reject-publish"});
    }
    add_queue_type(audit, cfg);
    auto r = conn.declare_queue_kept(name, audit);
    if (!r && r.error().code == "precondition_failed") {
        logger()->warn(
            "msg=\"audit queue exists with other arguments; kept as it is\" queue={} "
            "audit_queue_max_length={} hint=\"delete the queue once it is empty (the next start "
            "re-creates it bounded), or bound it with a RabbitMQ policy (max-length, overflow "
            "reject-publish)\" error=\"{}\"",
            name, cfg.audit_queue_max_length, r.error().message);
        return ok();
    }
    return r;
}

}  // namespace

result<void> declare_core(connection& conn, const topology& t, const broker_config& cfg) {
    for (auto [name, type] : {std::pair{&t.requests_exchange, "fanout"}, std::pair{&t.responses_exchange, "topic"},
                              std::pair{&t.control_exchange, "topic"}, std::pair{&t.dead_exchange, "fanout"},
                              std::pair{&t.unrouted_exchange, "fanout"}}) {
        if (auto r = conn.declare_exchange(*name, type); !r) {
            return r;
        }
    }
    if (auto r = conn.declare_exchange(t.work_exchange, "direct", {{"alternate-exchange", t.unrouted_exchange}}); !r) {
        return r;
    }
    queue_options dead;
    add_queue_type(dead, cfg);
    if (auto r = conn.declare_queue(t.dead_queue, dead); !r) {
        return r.error();
    }
    if (auto r = conn.bind_queue(t.dead_queue, t.dead_exchange, ""); !r) {
        return r;
    }

    if (auto r = conn.declare_queue(t.work_queue, work_queue_options(t, cfg)); !r) {
        return r.error();
    }
    // Before per-model routing the fanout fed work_queue directly: that binding must go before
    // the fanout feeds the work exchange, or a request would be queued twice (unbinding a
    // binding that does not exist is a no-op).
    if (auto r = conn.unbind_queue(t.work_queue, t.requests_exchange, ""); !r) {
        return r;
    }
    if (auto r = conn.bind_queue(t.work_queue, t.unrouted_exchange, ""); !r) {
        return r;
    }
    if (auto r = conn.bind_exchange(t.work_exchange, t.requests_exchange, ""); !r) {
        return r;
    }

    if (auto r = declare_audit_queue(conn, t.audit_requests_queue, t, cfg); !r) {
        return r;
    }
    if (auto r = conn.bind_queue(t.audit_requests_queue, t.requests_exchange, ""); !r) {
        return r;
    }
    if (auto r = declare_audit_queue(conn, t.audit_responses_queue, t, cfg); !r) {
        return r;
    }
    // `*.final` matches one-word server ids only: a background generation's `bg.<id>.final` needs
    // its own binding, and its chunks are always stored (resuming and polling read them back),
    // whatever the audit's --audit-chunks says about the others.
    for (const char* key : {"*.final", "*.error", "bg.*.final", "bg.*.error", "bg.*.chunks", "bg.*.chunk"}) {
        if (auto r = conn.bind_queue(t.audit_responses_queue, t.responses_exchange, key); !r) {
            return r;
        }
    }
    return ok();
}

result<void> declare_model_queue(connection& conn, const topology& t, const broker_config& cfg,
                                 std::string_view model) {
    const auto queue = t.model_queue(model);
    if (auto r = conn.declare_queue(queue, work_queue_options(t, cfg)); !r) {
        return r.error();
    }
    return conn.bind_queue(queue, t.work_exchange, t.model_key(model));
}

}  // namespace llmp::broker
