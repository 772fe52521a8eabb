#include "metrics/process_collector.hpp"

#include <gtest/gtest.h>

namespace llmp::metrics {
namespace {

TEST(process_collector, parses_proc_stat_with_odd_command_names) {
    // Fields from proc(5); the command name contains ") (" and spaces.
    std::string stat =
        "1234 (we) ird (name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1000 "
        "104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";
    auto s = parse_proc_stat(stat, 100, 4096, 1700000000);
    ASSERT_TRUE(s);
    EXPECT_DOUBLE_EQ(s->cpu_seconds, 3.0);  // (250 + 50) / 100
    EXPECT_DOUBLE_EQ(s->start_time_seconds, 1700000010.0);
    EXPECT_DOUBLE_EQ(s->virtual_bytes, 104857600.0);
    EXPECT_DOUBLE_EQ(s->resident_bytes, 2560.0 * 4096);
    EXPECT_FALSE(parse_proc_stat("garbage", 100, 4096, 0));
    EXPECT_FALSE(parse_proc_stat("1 (x) S 1 2", 100, 4096, 0));
}

TEST(process_collector, renders_every_process_metric_for_this_process) {
    registry r;
    add_process_metrics(r);
    auto out = r.render();
    for (const char* name :
         {"process_cpu_seconds_total ", "process_resident_memory_bytes ", "process_virtual_memory_bytes ",
          "process_open_fds ", "process_max_fds ", "process_start_time_seconds "}) {
        auto at = out.find(std::string{"\n"} + name);
        ASSERT_NE(at, std::string::npos) << name << " missing in\n" << out;
        double v = std::stod(out.substr(at + 1 + std::string{name}.size()));
        if (std::string{name} == "process_cpu_seconds_total ") {
            EXPECT_GE(v, 0);  // a fresh test process may not have used a whole clock tick
        } else {
            EXPECT_GT(v, 0) << name;
        }
    }
}

}  // namespace
}  // namespace llmp::metrics
