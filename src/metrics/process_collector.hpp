#pragma once
// The standard process metrics (the names every Prometheus client library exports), read
// from /proc/self at scrape time:
//   process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
//   process_open_fds, process_max_fds, process_start_time_seconds.
// Linux only. Any thread.

#include "metrics/registry.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

namespace llmp::metrics {

struct process_stats {
    double cpu_seconds = 0;  ///< user + system
    double resident_bytes = 0;
    double virtual_bytes = 0;
    double start_time_seconds = 0;  ///< since the Unix epoch
};

/// Parses the content of /proc/<pid>/stat (fields after the parenthesised command name, which
/// may itself contain spaces and parentheses). `ticks_per_s`, `page_size` and `boot_time_s`
/// (btime of /proc/stat) convert the raw fields.
std::optional<process_stats> parse_proc_stat(std::string_view stat, double ticks_per_s, double page_size,
                                             double boot_time_s);

/// Registers the process_* metrics in `r`.
void add_process_metrics(registry& r);

}  // namespace llmp::metrics
