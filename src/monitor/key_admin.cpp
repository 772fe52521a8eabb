#include "monitor/key_admin.hpp"

#include "common/errc.hpp"
#include "http/error_response.hpp"
#include "keys/api_key.hpp"
#include "keys/key_rules.hpp"
#include "keys/key_store.hpp"
#include "monitor/db_pool.hpp"
#include "monitor/key_budgets.hpp"
#include "monitor/logger.hpp"
#include "monitor/query_string.hpp"

#include <boost/beast/http/status.hpp>

#include <algorithm>
#include <cstdint>

namespace llmp::monitor {
namespace {

using http_server::request_context;
using http_server::response;
using nlohmann::json;

constexpr std::string_view keys_prefix = "/api/keys/";

// As in api_handlers.cpp: coroutines only parse, await and send; JSON is built in plain functions.

json listing_json(const keys::key_listing& k) {
    json j{{"id", k.id},
           {"name", k.name},
           {"owner", k.owner},
           {"prefix", k.prefix},
           {"role", std::string{keys::role_name(k.role)}},
           {"allowed_models", k.allowed_models},
           {"created_at", k.created_at},
           {"expires_at", k.expires_at ? json(*k.expires_at) : json(nullptr)},
           {"revoked_at", k.revoked_at ? json(*k.revoked_at) : json(nullptr)}};
    add_limit_fields(j, k.limits);
    return j;
}

/// A key_store error as the client should see it (database errors go through for_client).
error client_error(const error& e) {
    if (e.code == "key_name_taken") {
        return make_error(errc::invalid_field, e.message);
    }
    if (e.code == "key_not_found") {
        return make_error(errc::not_found, e.message);
    }
    return e;
}

/// A JSON whole number; one beyond int64 reads as the largest (the range checks refuse it).
std::optional<std::int64_t> whole_number(const json& v) {
    if (v.is_number_unsigned()) {
        auto u = v.get<std::uint64_t>();
        return u > static_cast<std::uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(u);
    }
    if (v.is_number_integer()) {
        return v.get<std::int64_t>();
    }
    return std::nullopt;
}

/// The fields of a key both POST and PATCH take, as they arrive: each is absent, null or a
/// value. Types are checked here; values by keys/key_rules.hpp's check_spec / check_change
/// (as `llmproxy keys` checks its flags).
struct key_fields {
    std::optional<std::string> owner;
    std::optional<std::vector<std::string>> models;
    std::optional<keys::key_role> role;
    std::optional<std::optional<int>> expires_in_days;
    keys::key_limits_change limits;
    bool any = false;
};

constexpr std::string_view field_list =
    "name (POST only), owner, models, role, expires_in_days, rpm, tpm, max_streams, daily_tokens, monthly_tokens, "
    "priority_ceiling";

/// Reads every field of `j` but "name"; an unknown field is an error (a typo must not pass as
/// "nothing changed").
result<key_fields> parse_fields(const json& j) {
    key_fields f;
    for (const auto& [field, v] : j.items()) {
        if (field == "name") {
            continue;
        }
        f.any = true;
        if (field == "owner") {
            if (!v.is_null() && !v.is_string()) {
                return fail(errc::invalid_field, "owner must be a string");
            }
            f.owner = v.is_null() ? std::string{} : v.get<std::string>();
        } else if (field == "models") {
            if (!v.is_null() && !v.is_array()) {
                return fail(errc::invalid_field, "models must be an array of glob patterns");
            }
            f.models.emplace();
            for (const auto& p : v.is_null() ? json::array() : v) {
                if (!p.is_string()) {
                    return fail(errc::invalid_field, "models must be an array of non-empty strings");
                }
                f.models->push_back(p.get<std::string>());
            }
        } else if (field == "role") {
            auto role = keys::check_role(v.is_string() ? v.get<std::string>() : std::string{});
            if (!role) {
                return role.error();
            }
            f.role = role.value();
        } else if (field == "expires_in_days") {
            if (v.is_null()) {
                f.expires_in_days = std::optional<int>{};
                continue;
            }
            // Checked here, before it narrows to int.
            auto days = whole_number(v);
            auto checked = days ? keys::check_expires_in_days(*days) : keys::check_expires_in_days(0);
            if (!checked) {
                return checked.error();
            }
            f.expires_in_days = std::optional<int>{static_cast<int>(*days)};
        } else {
            auto rule = std::find_if(keys::limit_rules.begin(), keys::limit_rules.end(),
                                     [&name = field](const keys::limit_rule& r) { return r.field == name; });
            if (rule == keys::limit_rules.end()) {
                return fail(errc::invalid_field, "unknown field '" + field + "'; a key has " + std::string{field_list});
            }
            auto i = static_cast<std::size_t>(rule - keys::limit_rules.begin());
            auto& slot = keys::limit_change_of(f.limits, i);
            if (v.is_null()) {
                slot = std::optional<std::int64_t>{};  // unlimited
                continue;
            }
            auto n = whole_number(v);
            if (!n) {
                return fail(errc::invalid_field, field + " must be a whole number, or null for unlimited");
            }
            slot = n;  // its range: check_spec / check_change
        }
    }
    return f;
}

result<json> parse_object(const std::string& body) {
    auto j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        return fail(errc::invalid_json, "the body must be a JSON object");
    }
    return j;
}

result<keys::key_spec> parse_spec(const std::string& body) {
    auto j = parse_object(body);
    if (!j) {
        return j.error();
    }
    keys::key_spec spec;
    auto name = j.value().find("name");
    if (name == j.value().end() || !name->is_string() || name->get<std::string>().empty()) {
        return fail(errc::missing_field, "name (a non-empty string) is required");
    }
    spec.name = name->get<std::string>();
    auto f = parse_fields(j.value());
    if (!f) {
        return f.error();
    }
    spec.owner = f.value().owner.value_or("");
    spec.allowed_models = f.value().models.value_or(std::vector<std::string>{});
    spec.role = f.value().role.value_or(keys::key_role::user);
    spec.expires_in_days = f.value().expires_in_days.value_or(std::nullopt);
    for (std::size_t i = 0; i < keys::limit_rules.size(); ++i) {
        keys::set_limit(spec.limits, i, keys::limit_change_of(f.value().limits, i).value_or(std::nullopt));
    }
    if (auto c = keys::check_spec(spec); !c) {
        return c.error();
    }
    return spec;
}

result<keys::key_change> parse_change(const std::string& body) {
    auto j = parse_object(body);
    if (!j) {
        return j.error();
    }
    if (j.value().contains("name")) {
        return fail(errc::invalid_field, "a key cannot be renamed (its name is in the URL)");
    }
    auto f = parse_fields(j.value());
    if (!f) {
        return f.error();
    }
    if (!f.value().any) {
        return fail(errc::missing_field, "nothing to change: give one or more of " + std::string{field_list});
    }
    keys::key_change change;
    change.owner = f.value().owner;
    change.allowed_models = f.value().models;
    change.role = f.value().role;
    change.expires_in_days = f.value().expires_in_days;
    change.limits = f.value().limits;
    if (auto c = keys::check_change(change); !c) {
        return c.error();
    }
    return change;
}

db_pool::job list_job() {
    return [](pg::connection& c) -> result<json> {
        auto listed = keys::list_keys(c);
        if (!listed) {
            return listed.error();
        }
        json list = json::array();
        for (const auto& k : listed.value()) {
            list.push_back(listing_json(k));
        }
        return json{{"keys", std::move(list)}};
    };
}

db_pool::job create_job(keys::key_spec spec) {
    return [spec = std::move(spec)](pg::connection& c) -> result<json> {
        auto k = keys::generate_key();
        auto made = keys::create_key(c, spec, k);
        if (!made) {
            return client_error(made.error());
        }
        json j = listing_json(made.value());
        j["key"] = k.plaintext;
        logger()->info("msg=\"api key created\" name=\"{}\" role={}", made.value().name,
                       keys::role_name(made.value().role));
        return j;
    };
}

db_pool::job update_job(std::string name, keys::key_change change) {
    return [name = std::move(name), change = std::move(change)](pg::connection& c) -> result<json> {
        auto updated = keys::update_key(c, name, change);
        if (!updated) {
            return client_error(updated.error());
        }
        logger()->info("msg=\"api key updated\" name=\"{}\" role={}", name, keys::role_name(updated.value().role));
        return listing_json(updated.value());
    };
}

db_pool::job revoke_job(std::string name) {
    return [name = std::move(name)](pg::connection& c) -> result<json> {
        if (auto r = keys::revoke_key(c, name); !r) {
            return client_error(r.error());
        }
        logger()->info("msg=\"api key revoked\" name=\"{}\"", name);
        return json{{"revoked", name}};
    };
}

/// The key name of "/api/keys/<name>" (percent-decoded), or "".
std::string key_name_of(std::string_view target) {
    auto path = target.substr(0, target.find('?'));
    if (path.size() <= keys_prefix.size() || path.substr(0, keys_prefix.size()) != keys_prefix) {
        return {};
    }
    auto name = percent_decode(path.substr(keys_prefix.size()));
    return name.find('/') == std::string::npos ? name : std::string{};
}

response reply(const db_reply& r, http::status ok_status) {
    if (!r.ok) {
        return http_server::error_response(r.err);
    }
    auto res = http_server::json_response(ok_status, r.body);
    res.set(http::field::cache_control, "no-store");
    return res;
}

net::awaitable<void> handle_list(monitor_context& m, request_context& ctx) {
    db_pool::job job = list_job();
    db_reply r = co_await m.db.run(std::move(job));
    co_await http_server::send(ctx, reply(r, http::status::ok));
}

net::awaitable<void> handle_create(monitor_context& m, request_context& ctx) {
    auto spec = parse_spec(ctx.req.body());
    if (!spec) {
        co_await http_server::send(ctx, http_server::error_response(spec.error()));
        co_return;
    }
    db_pool::job job = create_job(std::move(spec.value()));
    db_reply r = co_await m.db.run(std::move(job));
    co_await http_server::send(ctx, reply(r, http::status::created));
}

net::awaitable<void> handle_revoke(monitor_context& m, request_context& ctx) {
    auto name = key_name_of(ctx.req.target());
    if (name.empty()) {
        co_await http_server::send(ctx, http_server::error_response(make_error(errc::not_found, "no such key")));
        co_return;
    }
    db_pool::job job = revoke_job(std::move(name));
    db_reply r = co_await m.db.run(std::move(job));
    co_await http_server::send(ctx, reply(r, http::status::ok));
}

net::awaitable<void> handle_update(monitor_context& m, request_context& ctx) {
    auto name = key_name_of(ctx.req.target());
    if (name.empty()) {
        co_await http_server::send(ctx, http_server::error_response(make_error(errc::not_found, "no such key")));
        co_return;
    }
    auto change = parse_change(ctx.req.body());
    if (!change) {
        co_await http_server::send(ctx, http_server::error_response(change.error()));
        co_return;
    }
    db_pool::job job = update_job(std::move(name), std::move(change.value()));
    db_reply r = co_await m.db.run(std::move(job));
    co_await http_server::send(ctx, reply(r, http::status::ok));
}

}  // namespace

void add_key_admin_routes(http_server::router& r, monitor_context& m) {
    r.add(http::verb::get, "/api/keys", [&m](request_context& ctx) { return handle_list(m, ctx); });
    r.add(http::verb::post, "/api/keys", [&m](request_context& ctx) { return handle_create(m, ctx); });
    r.add(http::verb::patch, "/api/keys/*", [&m](request_context& ctx) { return handle_update(m, ctx); });
    r.add(http::verb::delete_, "/api/keys/*", [&m](request_context& ctx) { return handle_revoke(m, ctx); });
}

}  // namespace llmp::monitor
