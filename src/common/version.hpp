#pragma once
// The version of llmproxy: CMake's PROJECT_VERSION (project() in the top CMakeLists.txt), the
// one place it is written. Shown by `llmproxy --version` and in `llmproxy_build_info{version}`.
// The definition is generated (common/version.cpp.in -> the build dir's common/version.cpp), so
// a new version recompiles one file. A constant: safe from any thread.

#include <string_view>

namespace llmp {

/// "MAJOR.MINOR.PATCH", e.g. "0.1.0".
std::string_view llmproxy_version();

}  // namespace llmp
