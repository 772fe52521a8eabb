#pragma once
// Pieces of the Prometheus text exposition format 0.0.4, used by registry::render.
// Pure functions; any thread.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llmp::metrics::text {

/// HELP text: backslash and newline escaped.
void append_help(std::string& out, std::string_view help);
/// A label value inside double quotes: backslash, double quote and newline escaped.
void append_label_value(std::string& out, std::string_view v);
/// A sample value: shortest round-trip decimal, or +Inf, -Inf, NaN.
void append_value(std::string& out, double v);
void append_value(std::string& out, std::uint64_t v);
/// `{a="x",b="y"}` (nothing when there are no labels); `extra_name`/`extra_value` (the
/// histogram's `le`) go last when given.
void append_labels(std::string& out, const std::vector<std::string>& names, const std::vector<std::string>& values,
                   std::string_view extra_name = {}, std::string_view extra_value = {});

/// [a-zA-Z_:][a-zA-Z0-9_:]*
bool valid_metric_name(std::string_view name);
/// [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" (reserved).
bool valid_label_name(std::string_view name);

}  // namespace llmp::metrics::text
