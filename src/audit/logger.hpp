#pragma once
#include "common/logging.hpp"

namespace llmp::audit {
/// The "audit" component logger.
inline std::shared_ptr<spdlog::logger> logger() {
    return llmp::log::get("audit");
}
}  // namespace llmp::audit
