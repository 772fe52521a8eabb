#pragma once
#include "common/logging.hpp"

namespace llmp::limits {
/// The "limits" component logger.
inline std::shared_ptr<spdlog::logger> logger() {
    return llmp::log::get("limits");
}
}  // namespace llmp::limits
