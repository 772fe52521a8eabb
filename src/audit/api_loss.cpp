#include "audit/api_loss.hpp"

#include "common/errc.hpp"

#include <algorithm>

namespace llmp::audit::api_loss {

bool mark_lost(response_row& r) {
    if (r.reported_by != "worker") {
        return false;
    }
    r.status = "error";
    r.error_code = std::string{wire_name(errc::api_lost)};
    r.error_message = "the API server relaying this answer (" + r.server_id +
                      ") was lost before it confirmed that its client received it";
    r.retryable = true;
    return true;
}

std::int64_t judgement_clock_ms(bool caught_up, std::int64_t now_ms, std::int64_t newest_confirmation_ms) {
    return caught_up ? std::max(now_ms, newest_confirmation_ms) : newest_confirmation_ms;
}

std::string text_array_literal(const std::vector<std::string>& ids) {
    std::string out = "{";
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (i > 0) {
            out += ',';
        }
        out += '"';
        for (char ch : ids[i]) {
            if (ch == '"' || ch == '\\') {
                out += '\\';
            }
            out += ch;
        }
        out += '"';
    }
    out += '}';
    return out;
}

}  // namespace llmp::audit::api_loss
