#include "common/delivery_confirmation.hpp"

#include "common/json_get.hpp"
#include "common/json_limits.hpp"

#include <nlohmann/json.hpp>

namespace llmp {

std::string encode(const delivery_confirmation& m) {
    nlohmann::json j = {{"server_id", m.server_id}, {"sent_at_ms", m.sent_at_ms}, {"request_ids", m.request_ids}};
    if (m.leaving) {
        j["leaving"] = true;
    }
    return j.dump();
}

result<delivery_confirmation> decode_delivery_confirmation(std::string_view body) {
    auto parsed = parse_json_bounded(body, max_message_json_depth);
    if (!parsed || !parsed.value().is_object()) {
        return fail("malformed_message", "delivery confirmation is not a JSON object");
    }
    const auto& j = parsed.value();
    delivery_confirmation m;
    m.server_id = get_or<std::string>(j, "server_id", "");
    if (m.server_id.empty()) {
        return fail("malformed_message", "delivery confirmation lacks server_id");
    }
    m.sent_at_ms = get_or<std::int64_t>(j, "sent_at_ms", 0);
    m.leaving = get_or<bool>(j, "leaving", false);
    if (auto it = j.find("request_ids"); it != j.end() && !it->is_null()) {
        if (!it->is_array()) {
            return fail("malformed_message", "delivery confirmation: request_ids is not an array");
        }
        m.request_ids.reserve(it->size());
        for (const auto& id : *it) {
            if (!id.is_string() || id.get_ref<const std::string&>().empty()) {
                return fail("malformed_message", "delivery confirmation: a request id is not a non-empty string");
            }
            m.request_ids.push_back(id.get<std::string>());
        }
    }
    return m;
}

}  // namespace llmp
