#pragma once
#include "common/logging.hpp"

namespace llmp::api {
/// The "api" component logger.
inline std::shared_ptr<spdlog::logger> logger() {
    return llmp::log::get("api");
}
}  // namespace llmp::api
