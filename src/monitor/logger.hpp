#pragma once
#include "common/logging.hpp"

namespace llmp::monitor {
/// The "monitor" component logger.
inline std::shared_ptr<spdlog::logger> logger() {
    return llmp::log::get("monitor");
}
}  // namespace llmp::monitor
