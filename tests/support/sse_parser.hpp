#pragma once
// sse_parser: an incremental Server-Sent Events parser (WHATWG rules, protocols.md §3): feed
// it bytes as they arrive, in any split, and take the complete events. What a browser or the
// OpenAI SDKs would see; used by the tests and the load generator.

#include <string>
#include <string_view>
#include <vector>

namespace llmp::testing {

struct sse_event {
    std::string event = "message";
    std::string id;
    std::string data;
};

class sse_parser {
public:
    /// Parses `bytes`; complete events are appended to `out`.
    void feed(std::string_view bytes, std::vector<sse_event>& out);

private:
    void line(std::string_view l, std::vector<sse_event>& out);
    std::string partial_;
    bool last_was_cr_ = false;
    sse_event cur_;
    std::string last_id_;
    std::string data_;
    bool has_data_ = false;
};

}  // namespace llmp::testing
