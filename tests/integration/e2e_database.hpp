#pragma once
// For end-to-end tests that also need the test PostgreSQL (scripts/test sets its URL):
// LLMP_REQUIRE_DATABASE() and scratch_database, and the `llmproxy` commands that prepare one
// (migrate, keys create).

#include "pg/testing/require_database.hpp"
#include "pg/testing/scratch_database.hpp"
#include "support/child_process.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <string>
#include <utility>
#include <vector>

namespace llmp::testing {

/// Runs `llmproxy <args...>` to its end; returns its exit code (-1: still running after 30 s)
/// and its output (stdout and stderr), logged as `name` in the test's output directory.
inline std::pair<int, std::string> run_cli(const std::string& name, std::vector<std::string> args) {
    args.insert(args.begin(), LLMPROXY_BIN);
    child_process p{name, std::move(args), {}, test_output_dir() / (name + ".log")};
    auto code = p.wait_exit(std::chrono::seconds{30});
    return {code.value_or(-1), p.log()};
}

/// Migrates `database_url` and creates the key `name` there (`extra`: more `keys create`
/// flags); returns the key's plaintext, or "" after a test failure saying why.
inline std::string migrate_and_create_key(const std::string& database_url, const std::string& name,
                                          std::vector<std::string> extra = {}) {
    auto [migrated, mlog] = run_cli("migrate-" + name, {"migrate", "--database-url", database_url});
    EXPECT_EQ(migrated, 0) << mlog;
    std::vector<std::string> args{"keys", "create", "--name", name, "--database-url", database_url};
    args.insert(args.end(), extra.begin(), extra.end());
    auto [created, log] = run_cli("keys-create-" + name, std::move(args));
    EXPECT_EQ(created, 0) << log;
    std::smatch found;  // the key itself, not the display prefix that stderr also shows
    if (!std::regex_search(log, found, std::regex{"llmp_[A-Za-z0-9_-]{43}"})) {
        ADD_FAILURE() << "no key in the output of keys create:\n" << log;
        return {};
    }
    return found.str();
}

}  // namespace llmp::testing
