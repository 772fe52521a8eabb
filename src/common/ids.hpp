#pragma once
// Identifiers: request ids are random UUIDv4 strings; server and worker ids are short,
// dot-free tokens (they are AMQP routing-key words). Safe to call from any thread.

#include <string>
#include <string_view>

namespace llmp {

/// A random RFC 4122 version-4 UUID, lower-case hex with dashes.
std::string new_uuid();

/// "<prefix>-<12 hex chars>", e.g. "api-3f9c0a1b2c3d"; never contains '.', '*' or '#'.
std::string new_component_id(std::string_view prefix);

/// The short host name of this machine.
std::string host_name();

}  // namespace llmp
