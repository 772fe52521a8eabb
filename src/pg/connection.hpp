#pragma once
// pg::connection: one PostgreSQL connection over libpq. The ONLY header that wraps
// <libpq-fe.h> (included by connection.cpp alone, style.md §2).
//
// Threading: libpq is blocking and a PGconn must not be used by two threads at once. A
// connection is created, used and destroyed by one thread (the audit's pg_writer thread, one
// of the monitor's db_pool threads, or the migrate command's main thread).
//
// Every call returns a result; an error whose `code` is "db_unavailable" means the connection
// is gone or the server is not accepting work and the owner should reconnect; "db_data_error"
// means the statement was refused because of the data (SQLSTATE classes 22 and 23) and retrying
// it as is will fail again; "db_timeout" means the statement ran past the session's
// statement_timeout (the connection stays usable); "db_schema_error" (class 42: undefined table
// or column, insufficient privilege) means the database is not set up for the statement,
// whatever the data; "db_error" is anything else (e.g. class 54, program limits such as the
// stack depth a deeply nested jsonb runs into).
// Every message starts with "PostgreSQL <SQLSTATE>: " when the server gave one.

#include "common/result.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace llmp::pg {

inline constexpr std::string_view unavailable = "db_unavailable";
inline constexpr std::string_view data_error = "db_data_error";
inline constexpr std::string_view timed_out = "db_timeout";
inline constexpr std::string_view schema_error = "db_schema_error";
inline constexpr std::string_view other_error = "db_error";

using row = std::vector<std::optional<std::string>>;

struct query_result {
    std::vector<row> rows;
    std::int64_t affected = 0;  ///< PQcmdTuples: rows inserted/updated/deleted
};

/// Checks the syntax of a connection string or URI without connecting.
result<void> check_url(const std::string& url);
/// The same connection string with another database name (for tests and CREATE DATABASE).
std::string with_database(const std::string& url, const std::string& dbname);

class connection {
public:
    static result<std::unique_ptr<connection>> open(const std::string& url, int connect_timeout_s = 5,
                                                    std::string_view application_name = "llmproxy");
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    /// Simple-query protocol: may hold several statements, no parameters.
    result<void> exec(std::string_view sql);
    /// Extended protocol with text parameters (nullopt = NULL); returns the rows as text.
    result<query_result> query(std::string_view sql, const std::vector<std::optional<std::string>>& params = {});
    /// COPY ... FROM STDIN with `data` in the statement's format; returns the rows copied.
    result<std::int64_t> copy_in(std::string_view copy_sql, std::string_view data);
    /// False once libpq reports the connection as bad.
    bool healthy() const;

    /// The connection's socket, for a thread that waits on it with poll() between statements
    /// (a LISTEN session); -1 when there is none.
    int socket() const;
    /// Reads what the server sent without blocking and drains the NOTIFY messages received so
    /// far (LISTEN ... first): how many there were. An error means the connection is gone.
    result<std::size_t> take_notifications();

private:
    struct impl;
    explicit connection(std::unique_ptr<impl> p);
    std::unique_ptr<impl> impl_;
};

}  // namespace llmp::pg
