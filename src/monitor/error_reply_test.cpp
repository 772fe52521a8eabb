// The one error table (common/errc.hpp) walked through the monitor's error path: for every code,
// the reply has the table's status and Retry-After and {"error": {"code", "message"}}; and the
// database's own codes reach a client only as table codes.
#include "monitor/api_handlers.hpp"

#include "common/errc.hpp"
#include "monitor/db_pool.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

namespace llmp::monitor {
namespace {

using json = nlohmann::json;

void expect_row(const http_server::response& res, const errc_info& row, const std::string& what) {
    EXPECT_EQ(res.result_int(), static_cast<unsigned>(row.http_status)) << what;
    if (row.retry_after_s > 0) {
        EXPECT_EQ(res[http::field::retry_after], std::to_string(row.retry_after_s)) << what;
    } else {
        EXPECT_EQ(res.find(http::field::retry_after), res.end()) << what;
    }
}

TEST(error_reply, every_code_has_the_tables_status_and_retry_after) {
    for (const auto& row : errc_table()) {
        const std::string code{row.name};
        const error e{code, "what happened: " + code, row.retryable};
        auto res = error_reply(e);
        expect_row(res, row, code);
        EXPECT_EQ(json::parse(res.body()), json({{"error", {{"code", code}, {"message", e.message}}}})) << code;
    }
}

TEST(error_reply, the_databases_codes_reach_a_client_as_table_codes) {
    struct pg_case {
        const char* pg_code;
        errc seen;
    };
    for (auto [pg_code, seen] : {pg_case{"db_unavailable", errc::db_unavailable},
                                 pg_case{"db_timeout", errc::query_timeout}, pg_case{"db_data_error", errc::db_error},
                                 pg_case{"db_schema_error", errc::db_error}, pg_case{"db_error", errc::db_error}}) {
        auto res = error_reply(for_client(error{pg_code, "PostgreSQL 42P01: secret_table", false}));
        expect_row(res, info(seen), pg_code);
        auto j = json::parse(res.body());
        EXPECT_EQ(j["error"]["code"], wire_name(seen)) << pg_code;
        EXPECT_EQ(j["error"]["message"].get<std::string>().find("secret_table"), std::string::npos) << pg_code;
    }
}

}  // namespace
}  // namespace llmp::monitor
