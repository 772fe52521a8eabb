#pragma once
// Logging setup. One named spdlog logger per component (`http`, `broker`, `api`, `worker`,
// `provider`, ...), fetched with llmp::log::get(name). main() calls setup() before it starts
// any thread; after that loggers may be used from any thread.
//
// Lines are logfmt-style so they are both readable and machine-parsable:
//   2026-11-27T11:02:03.123Z info api msg="stream done" request_id=... model=...

#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <string_view>

namespace llmp::log {

/// Configure the default sink and level ("trace".."critical", "off"). Throws on a bad level.
void setup(std::string_view level, std::string_view process_name);

/// The logger for a component; created on first use with the configured sink.
std::shared_ptr<spdlog::logger> get(const std::string& component);

}  // namespace llmp::log
