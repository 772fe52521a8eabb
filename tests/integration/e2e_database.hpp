#pragma once
// For end-to-end tests that also need the test PostgreSQL (scripts/test sets its URL).

#include "audit/testing/scratch_database.hpp"

#include <gtest/gtest.h>

#include <string>

/// Declares `db_url` (LLMPROXY_TEST_DATABASE_URL) or skips the test when it is not set.
#define LLMP_REQUIRE_DATABASE()                                                         \
    auto db_url_opt = ::llmp::audit::testing::test_database_url();                      \
    if (!db_url_opt) {                                                                  \
        GTEST_SKIP() << "LLMPROXY_TEST_DATABASE_URL is not set (scripts/test sets it)"; \
    }                                                                                   \
    const std::string db_url = *db_url_opt
