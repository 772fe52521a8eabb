#include "monitor/key_admin.hpp"

#include "common/errc.hpp"
#include "http/error_response.hpp"
#include "keys/api_key.hpp"
#include "keys/key_store.hpp"
#include "monitor/db_pool.hpp"
#include "monitor/logger.hpp"
#include "monitor/query_string.hpp"

#include <boost/beast/http/status.hpp>

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

result<keys::key_spec> parse_spec(const std::string& body) {
    auto j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        return fail(errc::invalid_json, "the body must be a JSON object");
    }
    keys::key_spec spec;
    auto name = j.find("name");
    if (name == j.end() || !name->is_string() || name->get<std::string>().empty()) {
        return fail(errc::missing_field, "name (a non-empty string) is required");
    }
    spec.name = name->get<std::string>();
    if (auto o = j.find("owner"); o != j.end() && !o->is_null()) {
        if (!o->is_string()) {
            return fail(errc::invalid_field, "owner must be a string");
        }
        spec.owner = o->get<std::string>();
    }
    if (auto m = j.find("models"); m != j.end() && !m->is_null()) {
        if (!m->is_array()) {
            return fail(errc::invalid_field, "models must be an array of glob patterns");
        }
        for (const auto& p : *m) {
            if (!p.is_string() || p.get<std::string>().empty()) {
                return fail(errc::invalid_field, "models must be an array of non-empty strings");
            }
            spec.allowed_models.push_back(p.get<std::string>());
        }
    }
    if (auto d = j.find("expires_in_days"); d != j.end() && !d->is_null()) {
        if (!d->is_number_integer() || d->get<std::int64_t>() < 1 || d->get<std::int64_t>() > 36500) {
            return fail(errc::invalid_field, "expires_in_days must be a whole number from 1 to 36500");
        }
        spec.expires_in_days = d->get<int>();
    }
    if (auto r = j.find("role"); r != j.end() && !r->is_null()) {
        auto role = r->is_string() ? keys::parse_role(r->get<std::string>()) : std::nullopt;
        if (!role) {
            return fail(errc::invalid_field, "role must be user, viewer or admin");
        }
        spec.role = *role;
    }
    return spec;
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

}  // namespace

void add_key_admin_routes(http_server::router& r, monitor_context& m) {
    r.add(http::verb::get, "/api/keys", [&m](request_context& ctx) { return handle_list(m, ctx); });
    r.add(http::verb::post, "/api/keys", [&m](request_context& ctx) { return handle_create(m, ctx); });
    r.add(http::verb::delete_, "/api/keys/*", [&m](request_context& ctx) { return handle_revoke(m, ctx); });
}

}  // namespace llmp::monitor
