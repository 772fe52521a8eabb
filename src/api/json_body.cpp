#include "api/json_body.hpp"

#include <string>

namespace llmp::api {

result<nlohmann::json> parse_json_object(std::string_view body) {
    if (body.empty()) {
        return fail("bad_request", "missing request body: send a JSON object");
    }
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(body);
    } catch (const nlohmann::json::parse_error& e) {
        return fail("invalid_json", "request body is not valid JSON (at byte " + std::to_string(e.byte) + ")");
    }
    if (!j.is_object()) {
        return fail("invalid_json", "request body must be a JSON object");
    }
    return j;
}

}  // namespace llmp::api
