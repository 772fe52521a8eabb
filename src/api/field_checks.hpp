#pragma once
// Typed, range-checked reads of the numbers a client sends, shared by the flavours' body
// parsers. A client number reaches the broker message, the AMQP properties and the providers'
// arithmetic, so each one is checked here for its JSON type (3.5, true, "5" are not integers)
// and its range before any conversion: no wrap-around, no float-to-int undefined behaviour.
// Pure functions, any thread; every rejection is "invalid_field" (400) naming the field and
// the accepted range.

#include "common/result.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <optional>

namespace llmp::api {

constexpr std::int64_t int32_max = std::numeric_limits<std::int32_t>::max();

/// j[name] as an integer in [lo, hi]; nullopt when absent or null.
result<std::optional<std::int64_t>> integer_field(const nlohmann::json& j, const char* name, std::int64_t lo,
                                                  std::int64_t hi);

/// j[name] as a number (integer or not) in [lo, hi]; nullopt when absent or null.
result<std::optional<double>> number_field(const nlohmann::json& j, const char* name, double lo, double hi);

/// Ollama's `options` object: the options Ollama knows are type- and range-checked (integers
/// within 32 bits, num_predict from -2, seed within 64 bits, floats within float32, booleans
/// as booleans); the others pass unchecked.
result<void> check_ollama_options(const nlohmann::json& options);

}  // namespace llmp::api
