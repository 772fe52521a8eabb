#pragma once
#include "common/logging.hpp"

namespace llmp::pg {
/// The "pg" component logger.
inline std::shared_ptr<spdlog::logger> logger() {
    return llmp::log::get("pg");
}
}  // namespace llmp::pg
