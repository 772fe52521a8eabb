#pragma once
// Versioned schema migrations for the audit database. Each migration runs once, in order, in
// one transaction with its row in `schema_migrations`; a transaction-scoped advisory lock
// serialises concurrent migrators (`llmproxy migrate` and audit processes starting together).
// Migrations are append-only: never edit one that has shipped, add a new version instead.
//
// Threading: migrate() uses the connection it is given, on the caller's thread.

#include "common/result.hpp"

#include <span>
#include <string_view>

namespace llmp::audit {

namespace pg {
class connection;
}

struct migration {
    int version;
    std::string_view name;
    std::string_view sql;
};

/// Every migration, in version order.
std::span<const migration> all_migrations();

/// Applies the pending migrations; returns how many ran (0 when the schema is current).
result<int> migrate(pg::connection& conn);

}  // namespace llmp::audit
