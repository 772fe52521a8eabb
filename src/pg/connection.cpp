#include "pg/connection.hpp"

#include "common/secret_mask.hpp"

#include <libpq-fe.h>

#include <algorithm>

namespace llmp::pg {
namespace {

struct result_deleter {
    void operator()(PGresult* r) const { PQclear(r); }
};
using result_ptr = std::unique_ptr<PGresult, result_deleter>;

std::string trimmed(const char* s) {
    std::string out = s == nullptr ? "" : s;
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) {
        out.pop_back();
    }
    std::replace(out.begin(), out.end(), '\n', ' ');  // one log line per error
    return out;
}

/// One place that turns a libpq failure into an error value (style.md §4.6).
error classify(PGconn* conn, const PGresult* r) {
    std::string sqlstate;
    std::string text;
    if (r != nullptr) {
        const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        sqlstate = s == nullptr ? "" : s;
        text = trimmed(PQresultErrorMessage(r));
    }
    if (text.empty()) {
        text = trimmed(PQerrorMessage(conn));
    }
    std::string klass = sqlstate.substr(0, 2);
    if (sqlstate == "57014" && PQstatus(conn) == CONNECTION_OK) {
        // query_canceled: the session's statement_timeout ran out. The connection is fine.
        return error{std::string{timed_out}, "PostgreSQL 57014: " + text, false};
    }
    if (PQstatus(conn) != CONNECTION_OK || sqlstate.empty() || klass == "08" || klass == "57" || klass == "53" ||
        klass == "58" || klass == "40") {
        return error{std::string{unavailable}, "PostgreSQL: " + text, true};
    }
    if (klass == "22" || klass == "23") {
        return error{std::string{data_error}, "PostgreSQL " + sqlstate + ": " + text, false};
    }
    if (klass == "42") {
        return error{std::string{schema_error}, "PostgreSQL " + sqlstate + ": " + text, true};
    }
    return error{std::string{other_error}, "PostgreSQL " + sqlstate + ": " + text, true};
}

bool is_uri(const std::string& url) {
    return url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
}

}  // namespace

result<void> check_url(const std::string& url) {
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
    if (opts == nullptr) {
        std::string msg = err != nullptr ? trimmed(err) : "out of memory";
        PQfreemem(err);
        // libpq quotes the token it stumbled on, which may be a piece of a password
        // ("password=two words": missing "=" after "words"): those go, the structure stays.
        std::string safe;
        bool quoted = false;
        for (char ch : msg) {
            if (ch == '"') {
                safe += quoted ? "***\"" : "\"";
                quoted = !quoted;
            } else if (!quoted) {
                safe += ch;
            }
        }
        return fail("bad_config", "invalid database URL '" + mask_secrets(url) + "': " + safe);
    }
    PQconninfoFree(opts);
    return ok();
}

std::string with_database(const std::string& url, const std::string& dbname) {
    if (!is_uri(url)) {
        return url + " dbname=" + dbname;
    }
    auto authority = url.find("://") + 3;
    auto query = url.find('?', authority);
    auto slash = url.find('/', authority);
    if (slash == std::string::npos || (query != std::string::npos && slash > query)) {
        auto at = query == std::string::npos ? url.size() : query;
        return url.substr(0, at) + "/" + dbname + url.substr(at);
    }
    auto end = query == std::string::npos ? url.size() : query;
    return url.substr(0, slash + 1) + dbname + url.substr(end);
}

struct connection::impl {
    PGconn* conn = nullptr;
    ~impl() {
        if (conn != nullptr) {
            PQfinish(conn);
        }
    }
};

connection::connection(std::unique_ptr<impl> p) : impl_{std::move(p)} {}
connection::~connection() = default;

result<std::unique_ptr<connection>> connection::open(const std::string& url, int connect_timeout_s,
                                                     std::string_view application_name) {
    std::string timeout = std::to_string(std::max(1, connect_timeout_s));
    std::string app{application_name};
    // dbname is expanded as a full connection string; the keywords after it override it.
    const char* keys[] = {"dbname",          "connect_timeout",     "application_name", "keepalives",
                          "keepalives_idle", "keepalives_interval", "keepalives_count", nullptr};
    const char* values[] = {url.c_str(), timeout.c_str(), app.c_str(), "1", "10", "3", "3", nullptr};
    auto p = std::make_unique<impl>();
    p->conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
    if (p->conn == nullptr) {
        return fail(std::string{unavailable}, "PostgreSQL: out of memory", true);
    }
    if (PQstatus(p->conn) != CONNECTION_OK) {
        return fail(std::string{unavailable}, "PostgreSQL: " + trimmed(PQerrorMessage(p->conn)), true);
    }
    // Notices (e.g. "relation already exists, skipping") are not worth a log line each.
    PQsetNoticeProcessor(
        p->conn, [](void*, const char*) {}, nullptr);
    return std::unique_ptr<connection>{new connection{std::move(p)}};
}

bool connection::healthy() const {
    return PQstatus(impl_->conn) == CONNECTION_OK;
}

int connection::socket() const {
    return PQsocket(impl_->conn);
}

result<std::size_t> connection::take_notifications() {
    if (PQconsumeInput(impl_->conn) == 0) {
        return classify(impl_->conn, nullptr);
    }
    std::size_t n = 0;
    while (PGnotify* note = PQnotifies(impl_->conn)) {
        PQfreemem(note);
        ++n;
    }
    return n;
}

result<void> connection::exec(std::string_view sql) {
    std::string s{sql};
    result_ptr r{PQexec(impl_->conn, s.c_str())};
    auto st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
        return classify(impl_->conn, r.get());
    }
    return ok();
}

result<query_result> connection::query(std::string_view sql, const std::vector<std::optional<std::string>>& params) {
    std::string s{sql};
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) {
        values.push_back(p ? p->c_str() : nullptr);
    }
    result_ptr r{PQexecParams(impl_->conn, s.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                              nullptr, 0)};
    auto st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        return classify(impl_->conn, r.get());
    }
    query_result out;
    int n = PQntuples(r.get());
    int cols = PQnfields(r.get());
    out.rows.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        row rw;
        rw.reserve(static_cast<std::size_t>(cols));
        for (int c = 0; c < cols; ++c) {
            if (PQgetisnull(r.get(), i, c)) {
                rw.emplace_back(std::nullopt);
            } else {
                rw.emplace_back(
                    std::string{PQgetvalue(r.get(), i, c), static_cast<std::size_t>(PQgetlength(r.get(), i, c))});
            }
        }
        out.rows.push_back(std::move(rw));
    }
    const char* tuples = PQcmdTuples(r.get());
    out.affected = (tuples != nullptr && *tuples != '\0') ? std::stoll(tuples) : 0;
    return out;
}

result<std::int64_t> connection::copy_in(std::string_view copy_sql, std::string_view data) {
    std::string s{copy_sql};
    result_ptr r{PQexec(impl_->conn, s.c_str())};
    if (!r || PQresultStatus(r.get()) != PGRES_COPY_IN) {
        return classify(impl_->conn, r.get());
    }
    r.reset();
    constexpr std::size_t piece = 1 << 20;
    bool sent = true;
    for (std::size_t off = 0; off < data.size() && sent; off += piece) {
        auto n = std::min(piece, data.size() - off);
        sent = PQputCopyData(impl_->conn, data.data() + off, static_cast<int>(n)) == 1;
    }
    if (PQputCopyEnd(impl_->conn, sent ? nullptr : "client failed to send COPY data") != 1) {
        return classify(impl_->conn, nullptr);
    }
    std::optional<error> failure;
    std::int64_t rows = 0;
    while (PGresult* raw = PQgetResult(impl_->conn)) {
        result_ptr res{raw};
        if (PQresultStatus(raw) != PGRES_COMMAND_OK) {
            if (!failure) {
                failure = classify(impl_->conn, raw);
            }
        } else {
            const char* tuples = PQcmdTuples(raw);
            rows = (tuples != nullptr && *tuples != '\0') ? std::stoll(tuples) : 0;
        }
    }
    if (failure) {
        return *failure;
    }
    if (!sent) {
        return classify(impl_->conn, nullptr);
    }
    return rows;
}

}  // namespace llmp::pg
