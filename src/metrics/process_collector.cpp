#include "metrics/process_collector.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace llmp::metrics {
namespace {

std::string read_file(const char* path) {
    std::ifstream in{path};
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// btime from /proc/stat: the boot time in seconds since the epoch (0 if unreadable).
double boot_time_seconds() {
    std::ifstream in{"/proc/stat"};
    std::string key;
    while (in >> key) {
        if (key == "btime") {
            double v = 0;
            in >> v;
            return v;
        }
        in.ignore(1 << 20, '\n');
    }
    return 0;
}

std::optional<process_stats> read_self() {
    static const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    static const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    static const double boot = boot_time_seconds();
    return parse_proc_stat(read_file("/proc/self/stat"), ticks, page, boot);
}

double open_fds() {
    DIR* d = opendir("/proc/self/fd");
    if (d == nullptr) {
        return 0;
    }
    double n = 0;
    while (auto* e = readdir(d)) {
        if (e->d_name[0] != '.') {
            ++n;
        }
    }
    closedir(d);
    return n - 1;  // the descriptor of the directory being listed
}

double max_fds() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) {
        return 0;
    }
    return static_cast<double>(rl.rlim_cur);
}

}  // namespace

std::optional<process_stats> parse_proc_stat(std::string_view stat, double ticks_per_s, double page_size,
                                             double boot_time_s) {
    // "pid (comm) state ppid ..." - comm may contain ") ", so split at the LAST ')'.
    auto close = stat.rfind(')');
    if (close == std::string_view::npos || ticks_per_s <= 0) {
        return std::nullopt;
    }
    std::vector<std::string_view> fields;  // fields[0] = state (field 3 in proc(5))
    std::size_t i = close + 1;
    while (i < stat.size()) {
        while (i < stat.size() && stat[i] == ' ') {
            ++i;
        }
        auto j = stat.find_first_of(" \n", i);
        if (j == std::string_view::npos) {
            j = stat.size();
        }
        if (j > i) {
            fields.push_back(stat.substr(i, j - i));
        }
        i = j + 1;
    }
    // proc(5) numbering: utime 14, stime 15, starttime 22, vsize 23, rss 24.
    auto field = [&fields](int n) -> std::optional<double> {
        auto idx = static_cast<std::size_t>(n - 3);
        if (idx >= fields.size()) {
            return std::nullopt;
        }
        double v = 0;
        auto f = fields[idx];
        auto [p, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
        if (ec != std::errc{}) {
            return std::nullopt;
        }
        return v;
    };
    auto utime = field(14);
    auto stime = field(15);
    auto start = field(22);
    auto vsize = field(23);
    auto rss = field(24);
    if (!utime || !stime || !start || !vsize || !rss) {
        return std::nullopt;
    }
    process_stats s;
    s.cpu_seconds = (*utime + *stime) / ticks_per_s;
    s.start_time_seconds = boot_time_s + *start / ticks_per_s;
    s.virtual_bytes = *vsize;
    s.resident_bytes = *rss * page_size;
    return s;
}

void add_process_metrics(registry& r) {
    using t = metric_type;
    r.callback("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", t::counter).add({}, [] {
        return read_self().value_or(process_stats{}).cpu_seconds;
    });
    r.callback("process_resident_memory_bytes", "Resident memory size in bytes.", t::gauge).add({}, [] {
        return read_self().value_or(process_stats{}).resident_bytes;
    });
    r.callback("process_virtual_memory_bytes", "Virtual memory size in bytes.", t::gauge).add({}, [] {
        return read_self().value_or(process_stats{}).virtual_bytes;
    });
    r.callback("process_open_fds", "Number of open file descriptors.", t::gauge).add({}, open_fds);
    r.callback("process_max_fds", "Maximum number of open file descriptors.", t::gauge).add({}, max_fds);
    // Fixed for the life of the process: read once.
    const double start = read_self().value_or(process_stats{}).start_time_seconds;
    r.callback("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", t::gauge)
        .add({}, [start] { return start; });
}

}  // namespace llmp::metrics
