#pragma once
// Broker-neutral message types: what publishers send and consumers receive, with the few AMQP
// properties llmproxy uses. No rabbitmq-c type appears here (style.md §2, vendor containment).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace llmp::broker {

using field_value = std::variant<std::int64_t, std::string, bool>;
using field_table = std::vector<std::pair<std::string, field_value>>;

/// The value of a table entry, or nullptr.
const field_value* find_field(const field_table& t, std::string_view key);
std::int64_t field_int(const field_table& t, std::string_view key, std::int64_t fallback);
std::string field_string(const field_table& t, std::string_view key);

struct properties {
    std::string message_id;
    std::string correlation_id;
    std::string content_type;
    std::string type;
    std::string expiration;  ///< per-message TTL, decimal milliseconds
    std::optional<std::uint8_t> priority;
    bool persistent = false;
    std::int64_t timestamp = 0;  ///< seconds
    field_table headers;
};

struct outgoing_message {
    std::string exchange;
    std::string routing_key;
    bool mandatory = false;
    properties props;
    std::string body;
};

struct delivery {
    std::uint64_t delivery_tag = 0;
    bool redelivered = false;
    std::string consumer_tag;
    std::string exchange;
    std::string routing_key;
    properties props;
    std::string body;
};

/// A publisher confirm (basic.ack / basic.nack).
struct confirm {
    std::uint64_t delivery_tag = 0;
    bool multiple = false;
    bool ack = true;
};

/// A mandatory message the broker could not route (basic.return).
struct returned_message {
    int reply_code = 0;
    std::string reply_text;
    std::string exchange;
    std::string routing_key;
    properties props;
    std::string body;
};

using event = std::variant<std::monostate, delivery, confirm, returned_message>;

struct queue_options {
    bool durable = true;
    bool exclusive = false;
    bool auto_delete = false;
    field_table arguments;
};

struct queue_state {
    std::uint32_t messages = 0;  ///< ready messages
    std::uint32_t consumers = 0;
};

}  // namespace llmp::broker
