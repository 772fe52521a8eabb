#pragma once
#include "common/logging.hpp"

namespace llmp::worker {
/// The "worker" component logger.
inline std::shared_ptr<spdlog::logger> logger() {
    return llmp::log::get("worker");
}
}  // namespace llmp::worker
