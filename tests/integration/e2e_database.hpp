#pragma once
// For end-to-end tests that also need the test PostgreSQL (scripts/test sets its URL):
// LLMP_REQUIRE_DATABASE() and scratch_database.

#include "pg/testing/require_database.hpp"
#include "pg/testing/scratch_database.hpp"
