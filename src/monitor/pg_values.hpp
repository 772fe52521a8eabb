#pragma once
// pg_values: PostgreSQL text-format values (what pg::connection returns) as JSON values.
// Pure; any thread.

#include "pg/connection.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace llmp::monitor {

/// A number, or 0 for NULL/unparsable (the endpoints present "no data" as 0).
double as_double(const std::optional<std::string>& v);
std::int64_t as_int(const std::optional<std::string>& v);
/// A number, or JSON null for NULL.
nlohmann::json number_or_null(const std::optional<std::string>& v);
/// A string, or JSON null for NULL.
nlohmann::json text_or_null(const std::optional<std::string>& v);
bool as_bool(const std::optional<std::string>& v);
/// "{0.5,1.5,NULL}" -> [0.5, 1.5, 0]; missing elements are 0 so a percentile triple is always 3 long.
std::vector<double> as_double_array(const std::optional<std::string>& v, std::size_t expect);
/// "{a,\"b c\"}" -> ["a", "b c"].
std::vector<std::string> as_text_array(const std::optional<std::string>& v);
/// {"p50": a[0], "p95": a[1], "p99": a[2]}.
nlohmann::json percentiles(const std::optional<std::string>& v);

}  // namespace llmp::monitor
