#include "common/errc.hpp"

#include <array>
#include <cstddef>

namespace llmp {
namespace {

constexpr int retry_s = 1;  // see the header: why 1 s

// clang-format off
constexpr std::array table{
    //       code                                   wire name                          status retryable Retry-After
    errc_info{errc::bad_request,                     "bad_request",                     400, false, 0},
    errc_info{errc::invalid_json,                    "invalid_json",                    400, false, 0},
    errc_info{errc::missing_field,                   "missing_field",                   400, false, 0},
    errc_info{errc::invalid_field,                   "invalid_field",                   400, false, 0},
    errc_info{errc::invalid_api_key,                 "invalid_api_key",                 401, false, 0},
    errc_info{errc::model_not_allowed,               "model_not_allowed",               403, false, 0},
    errc_info{errc::forbidden,                       "forbidden",                       403, false, 0},
    errc_info{errc::not_found,                       "not_found",                       404, false, 0},
    errc_info{errc::model_not_found,                 "model_not_found",                 404, false, 0},
    errc_info{errc::method_not_allowed,              "method_not_allowed",              405, false, 0},
    errc_info{errc::payload_too_large,               "payload_too_large",               413, false, 0},
    errc_info{errc::unsupported_media_type,          "unsupported_media_type",          415, false, 0},
    errc_info{errc::too_many_connections,            "too_many_connections",            429, true,  retry_s},
    errc_info{errc::upstream_rate_limited,           "upstream_rate_limited",           429, true,  retry_s},
    errc_info{errc::rate_limit_exceeded,             "rate_limit_exceeded",             429, true,  retry_s},
    errc_info{errc::cancelled,                       "cancelled",                       499, false, 0},
    errc_info{errc::client_too_slow,                 "client_too_slow",                 499, false, 0},
    errc_info{errc::internal_error,                  "internal_error",                  500, false, 0},
    errc_info{errc::bad_config,                      "bad_config",                      500, false, 0},
    errc_info{errc::poison_request,                  "poison_request",                  500, false, 0},
    errc_info{errc::db_error,                        "db_error",                        500, false, 0},
    errc_info{errc::upstream_error,                  "upstream_error",                  502, false, 0},
    errc_info{errc::upstream_unavailable,            "upstream_unavailable",            502, true,  retry_s},
    errc_info{errc::upstream_auth_failed,            "upstream_auth_failed",            502, false, 0},
    errc_info{errc::upstream_bad_request,            "upstream_bad_request",            502, false, 0},
    errc_info{errc::provider_error,                  "provider_error",                  502, false, 0},
    errc_info{errc::overloaded,                      "overloaded",                      503, true,  retry_s},
    errc_info{errc::queue_full,                      "queue_full",                      503, true,  retry_s},
    errc_info{errc::broker_unavailable,              "broker_unavailable",              503, true,  retry_s},
    errc_info{errc::no_workers,                      "no_workers",                      503, true,  retry_s},
    errc_info{errc::worker_lost,                     "worker_lost",                     503, true,  retry_s},
    errc_info{errc::api_lost,                        "api_lost",                        502, true,  retry_s},
    errc_info{errc::shutting_down,                   "shutting_down",                   503, true,  retry_s},
    errc_info{errc::db_unavailable,                  "db_unavailable",                  503, true,  retry_s},
    errc_info{errc::rabbitmq_management_unavailable, "rabbitmq_management_unavailable", 503, true,  2},
    errc_info{errc::timeout,                         "timeout",                         504, false, 0},
    errc_info{errc::upstream_timeout,                "upstream_timeout",                504, true,  retry_s},
    errc_info{errc::query_timeout,                   "query_timeout",                   504, false, 0},
};
// clang-format on

constexpr bool in_enum_order() {
    for (std::size_t i = 0; i < table.size(); ++i) {
        if (table[i].code != static_cast<errc>(i)) {
            return false;
        }
    }
    return true;
}
static_assert(in_enum_order(), "the table's rows follow the enum, one row per code");
static_assert(table.back().code == errc::query_timeout, "a code added after query_timeout needs a row");

}  // namespace

std::span<const errc_info> errc_table() {
    return table;
}

const errc_info& info(errc c) {
    return table[static_cast<std::size_t>(c)];
}

std::string_view wire_name(errc c) {
    return info(c).name;
}

std::optional<errc> errc_from_wire(std::string_view name) {
    for (const auto& row : table) {  // a few dozen short strings, on error paths only
        if (row.name == name) {
            return row.code;
        }
    }
    return std::nullopt;
}

error_reply_policy reply_policy(std::string_view name, bool error_retryable) {
    if (auto c = errc_from_wire(name)) {
        const auto& row = info(*c);
        return {row.http_status, row.retryable || error_retryable, row.retry_after_s};
    }
    if (error_retryable) {
        return {503, true, unknown_retry_after_s};
    }
    return {500, false, 0};
}

error make_error(errc c, std::string message) {
    const auto& row = info(c);
    return error{std::string{row.name}, std::move(message), row.retryable};
}

}  // namespace llmp
