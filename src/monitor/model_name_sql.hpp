#pragma once
// The model-name rule (common/messages.hpp: normalize_model_name, a missing or empty tag means
// "latest") in SQL, for the monitor's queries over stored names: the audit stores a name as the
// client spelled it ("mock") or as the worker reported it ("mock:latest"), and the dashboard must
// show one model. model_name_sql_itest checks the SQL against the C++ rule.

#include <string>
#include <string_view>
#include <vector>

namespace llmp::monitor {

/// An SQL expression giving the normalized name of the text expression `column` ('' stays '').
std::string normalized_model_sql(std::string_view column);

/// Every spelling that names the same model as `name`, for matching stored names with an index:
/// {"mock:latest", "mock", "mock:"} for "mock"; only the normalized name when the tag is not latest.
std::vector<std::string> model_name_spellings(std::string_view name);

}  // namespace llmp::monitor
