#pragma once
// sync_http: one blocking HTTP/1.1 request to 127.0.0.1, for tests that check status codes,
// headers and bodies byte for byte. Not for load (see stream_client).

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace llmp::testing {

struct http_reply {
    unsigned status = 0;                         ///< 0 = no answer (connection failed)
    std::map<std::string, std::string> headers;  ///< lower-case names
    std::string body;
    std::string error;
};

http_reply http_request(unsigned port, const std::string& method, const std::string& target,
                        const std::string& body = {},
                        const std::vector<std::pair<std::string, std::string>>& headers = {});

inline http_reply http_get(unsigned port, const std::string& target) {
    return http_request(port, "GET", target);
}
inline http_reply http_post(unsigned port, const std::string& target, const std::string& body) {
    return http_request(port, "POST", target, body, {{"Content-Type", "application/json"}});
}

}  // namespace llmp::testing
