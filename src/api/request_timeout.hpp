#pragma once
// A request's deadline and priority from what the client sent (body timeout_ms, headers
// X-Request-Timeout-Ms and X-Priority) and the server's configuration. The timeout becomes the
// AMQP message expiration (RabbitMQ closes the channel on a value above 2^32-1, failing every
// publish in flight on it) and the wall-clock deadline received_at_ms + timeout_ms, so an
// explicit value must lie in [1, --max-request-timeout-ms], and that maximum in
// [1, max_message_ttl_ms]: no overflow anywhere. Pure functions, any thread; rejections are
// "invalid_field" (400 in every flavour).

#include "common/result.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

namespace llmp::api {

/// The largest per-message TTL (AMQP `expiration`, ms) RabbitMQ accepts.
constexpr std::int64_t max_message_ttl_ms = 4294967295;

/// The request's timeout in ms, 0 = none: the body's timeout_ms when > 0 (the parser refused
/// the others), else the header's, else `default_ms`. A header that is not a decimal integer,
/// or a client's value outside [1, max_ms], is refused.
result<std::int64_t> request_timeout_ms(std::int64_t body_timeout_ms, std::optional<std::string_view> header,
                                        std::int64_t default_ms, std::int64_t max_ms);

/// X-Priority: nullopt when absent; an integer from 0 to 9, or refused.
result<std::optional<int>> header_priority(std::optional<std::string_view> header);

}  // namespace llmp::api
