#pragma once
// scratch_database: a PostgreSQL database of its own for one test (CREATE DATABASE t_<random>
// on the server of LLMPROXY_TEST_DATABASE_URL, DROP ... WITH (FORCE) in the destructor), so
// tests can run in parallel. Test-only; used on the test's thread.

#include "pg/connection.hpp"

#include <memory>
#include <optional>
#include <string>

namespace llmp::pg::testing {

/// LLMPROXY_TEST_DATABASE_URL, or nullopt (the test skips; scripts/test always sets it).
std::optional<std::string> test_database_url();

class scratch_database {
public:
    /// Creates the database; throws std::runtime_error when the server refuses.
    /// `create` false only picks the name (for tests that create it later with create()).
    explicit scratch_database(std::string base_url, bool create = true);
    ~scratch_database();
    scratch_database(const scratch_database&) = delete;
    scratch_database& operator=(const scratch_database&) = delete;

    void create();
    const std::string& url() const { return url_; }
    const std::string& name() const { return name_; }
    /// A new connection to the scratch database; throws on failure.
    std::unique_ptr<pg::connection> connect() const;
    /// The first column of the first row of `sql` (empty string for NULL); throws on failure.
    std::string scalar(const std::string& sql) const;
    std::int64_t count(const std::string& sql) const { return std::stoll(scalar(sql)); }

private:
    std::string base_url_;
    std::string name_;
    std::string url_;
    bool created_ = false;
};

}  // namespace llmp::pg::testing
