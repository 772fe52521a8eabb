#pragma once
// LLMP_REQUIRE_DATABASE(): the first line of a test that needs the test PostgreSQL. Declares
// `db_url` (LLMPROXY_TEST_DATABASE_URL, which scripts/test always sets) or skips the test.
// Test-only; used on the test's thread.

#include "pg/testing/scratch_database.hpp"

#include <gtest/gtest.h>

#include <string>

#define LLMP_REQUIRE_DATABASE()                                                         \
    auto db_url_opt = ::llmp::pg::testing::test_database_url();                         \
    if (!db_url_opt) {                                                                  \
        GTEST_SKIP() << "LLMPROXY_TEST_DATABASE_URL is not set (scripts/test sets it)"; \
    }                                                                                   \
    const std::string db_url = *db_url_opt
