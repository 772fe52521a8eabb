#include "common/logging.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>
#include <stdexcept>

namespace llmp::log {
namespace {

std::mutex mu;
spdlog::level::level_enum configured_level = spdlog::level::info;
std::string process;

}  // namespace

void setup(std::string_view level, std::string_view process_name) {
    auto lvl = spdlog::level::from_str(std::string{level});
    if (lvl == spdlog::level::off && level != "off") {
        throw std::invalid_argument("unknown log level '" + std::string{level} +
                                    "' (use trace, debug, info, warn, error, critical, off)");
    }
    std::lock_guard lock{mu};
    configured_level = lvl;
    process = std::string{process_name};
    spdlog::set_level(lvl);
    // UTC timestamps; the logger name is the component.
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l " + process + "/%n %v", spdlog::pattern_time_type::utc);
}

std::shared_ptr<spdlog::logger> get(const std::string& component) {
    if (auto existing = spdlog::get(component)) {
        return existing;
    }
    std::lock_guard lock{mu};
    if (auto existing = spdlog::get(component)) {
        return existing;
    }
    auto logger = spdlog::stderr_color_mt(component);
    logger->set_level(configured_level);
    return logger;
}

}  // namespace llmp::log
