#pragma once
// The routing keys of background and resumable generations (docs/architecture.md, "Background
// mode and resumable streams"). Such a request is published under the reserved server id
// "bg.<request id>", so the worker sends its chunks, final and error to
// `bg.<request id>.chunks|.final|.error`: no server's own binding (`<server-id>.#`, a dot-free
// id) matches them, the audit's do (broker/topology.cpp), and a server relaying one binds
// `background_binding(request id)` for as long as it does. Pure functions, any thread.

#include <string>
#include <string_view>

namespace llmp::broker {

inline std::string background_server_id(std::string_view request_id) {
    return "bg." + std::string{request_id};
}

inline std::string background_binding(std::string_view request_id) {
    return background_server_id(request_id) + ".#";
}

/// A routing key (or server id) of a background generation: "bg." first. (Server ids are one
/// word, and `bg` is reserved.)
inline bool is_background_key(std::string_view key) {
    return key.starts_with("bg.");
}

}  // namespace llmp::broker
