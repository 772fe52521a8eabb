#pragma once
#include "common/logging.hpp"

namespace llmp::broker {
/// The "broker" component logger.
inline std::shared_ptr<spdlog::logger> logger() {
    return llmp::log::get("broker");
}
}  // namespace llmp::broker
