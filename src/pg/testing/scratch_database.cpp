#include "pg/testing/scratch_database.hpp"

#include "common/ids.hpp"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

namespace llmp::pg::testing {

std::optional<std::string> test_database_url() {
    const char* url = std::getenv("LLMPROXY_TEST_DATABASE_URL");
    if (url == nullptr || *url == '\0') {
        return std::nullopt;
    }
    return std::string{url};
}

scratch_database::scratch_database(std::string base_url, bool create_now) : base_url_{std::move(base_url)} {
    auto id = new_uuid();
    id.erase(std::remove(id.begin(), id.end(), '-'), id.end());
    name_ = "t_" + id.substr(0, 20);
    url_ = pg::with_database(base_url_, name_);
    if (create_now) {
        create();
    }
}

void scratch_database::create() {
    auto admin = pg::connection::open(pg::with_database(base_url_, "postgres"));
    if (!admin) {
        throw std::runtime_error("cannot connect to the test PostgreSQL: " + admin.error().message);
    }
    if (auto r = admin.value()->exec("CREATE DATABASE " + name_); !r) {
        throw std::runtime_error("CREATE DATABASE failed: " + r.error().message);
    }
    created_ = true;
}

scratch_database::~scratch_database() {
    if (!created_) {
        return;
    }
    if (auto admin = pg::connection::open(pg::with_database(base_url_, "postgres"))) {
        (void)admin.value()->exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    }
}

std::unique_ptr<pg::connection> scratch_database::connect() const {
    auto c = pg::connection::open(url_);
    if (!c) {
        throw std::runtime_error("cannot connect to " + name_ + ": " + c.error().message);
    }
    return std::move(c.value());
}

std::string scratch_database::scalar(const std::string& sql) const {
    auto c = connect();
    auto r = c->query(sql);
    if (!r) {
        throw std::runtime_error(sql + ": " + r.error().message);
    }
    if (r.value().rows.empty() || r.value().rows[0].empty()) {
        return {};
    }
    return r.value().rows[0][0].value_or("");
}

}  // namespace llmp::pg::testing
