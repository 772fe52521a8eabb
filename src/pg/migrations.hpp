#pragma once
// Versioned schema migrations for the audit database (written by the audit service, read by the
// monitor; both apply the pending ones on connect, as does `llmproxy migrate`). Each migration
// runs once, in order, in one transaction with its row in `schema_migrations`; an advisory lock
// (session-level, taken by polling outside any transaction, and transaction-level inside each)
// serialises concurrent migrators (`llmproxy migrate`, audit and monitor processes starting
// together). A migration may have online steps too: statements run
// one by one outside any transaction just before its own (CREATE INDEX CONCURRENTLY, a VALIDATE
// CONSTRAINT that must not hold the writer), after the migrations before it have committed;
// idempotent and best effort (a failure is logged: the migration's transaction then does the
// work itself, holding its locks longer).
// Migrations are append-only: never edit one that has shipped, add a new version instead.
//
// Threading: migrate() uses the connection it is given, on the caller's thread.

#include "common/result.hpp"

#include <span>
#include <string_view>

namespace llmp::pg {

class connection;

struct migration {
    int version;
    std::string_view name;
    std::string_view sql;
    std::span<const std::string_view> online = {};
};

/// Every migration, in version order.
std::span<const migration> all_migrations();

/// Applies the pending migrations; returns how many ran (0 when the schema is current).
result<int> migrate(connection& conn);

}  // namespace llmp::pg
