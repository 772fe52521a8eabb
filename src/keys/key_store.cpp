#include "keys/key_store.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>

namespace llmp::keys {
namespace {

// The limits, in key_limits' order (limits_of reads them from column `first` on). A macro so
// that it joins the SQL string literals at compile time.
#define LLMP_KEY_LIMIT_COLUMNS "rpm_limit, tpm_limit, max_streams, daily_tokens, monthly_tokens, priority_ceiling"
constexpr const char* limit_column_names[] = {"rpm_limit",    "tpm_limit",      "max_streams",
                                              "daily_tokens", "monthly_tokens", "priority_ceiling"};

std::optional<std::int64_t> number(const std::optional<std::string>& v) {
    if (!v) {
        return std::nullopt;
    }
    return std::stoll(*v);
}

key_limits limits_of(const pg::row& r, std::size_t first) {
    key_limits l;
    l.requests_per_minute = number(r[first]);
    l.tokens_per_minute = number(r[first + 1]);
    l.max_streams = number(r[first + 2]);
    l.tokens_per_day = number(r[first + 3]);
    l.tokens_per_month = number(r[first + 4]);
    if (auto p = number(r[first + 5])) {
        l.priority_ceiling = static_cast<int>(*p);
    }
    return l;
}

std::optional<std::string> text(const std::optional<std::int64_t>& v) {
    return v ? std::optional<std::string>{std::to_string(*v)} : std::nullopt;
}

// allowed_models travels as a JSON array both ways: no text[] literal quoting to get wrong.
constexpr std::string_view listing_columns =
    "id::text, name, coalesce(owner, ''), key_prefix, array_to_json(allowed_models)::text, "
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), " LLMP_KEY_LIMIT_COLUMNS ", role";

/// A role column's text; a value this build does not know (a newer schema's) is the least.
key_role role_of(const std::optional<std::string>& v) {
    return parse_role(v.value_or("user")).value_or(key_role::user);
}

std::vector<std::string> models_of(const std::optional<std::string>& json_text) {
    std::vector<std::string> out;
    if (!json_text) {
        return out;
    }
    auto j = nlohmann::json::parse(*json_text, nullptr, false);
    if (j.is_array()) {
        for (const auto& m : j) {
            if (m.is_string()) {
                out.push_back(m.get<std::string>());
            }
        }
    }
    return out;
}

key_listing listing_of(const pg::row& r) {
    key_listing l;
    l.id = r[0].value_or("");
    l.name = r[1].value_or("");
    l.owner = r[2].value_or("");
    l.prefix = r[3].value_or("");
    l.allowed_models = models_of(r[4]);
    l.created_at = r[5].value_or("");
    l.expires_at = r[6];
    l.revoked_at = r[7];
    l.limits = limits_of(r, 8);
    l.role = role_of(r[14]);
    return l;
}

}  // namespace

result<key_listing> create_key(pg::connection& conn, const key_spec& spec, const new_key& k) {
    std::optional<std::string> days;
    if (spec.expires_in_days) {
        days = std::to_string(*spec.expires_in_days);
    }
    auto r = conn.query(
        "INSERT INTO api_keys (name, owner, key_hash, key_prefix, allowed_models, expires_at, " LLMP_KEY_LIMIT_COLUMNS
        ", role) VALUES ($1, nullif($2, ''), $3, $4, ARRAY(SELECT jsonb_array_elements_text($5::jsonb)), "
        "now() + $6::integer * interval '1 day', $7, $8, $9, $10, $11, $12, $13) "
        "ON CONFLICT (name) DO NOTHING RETURNING " +
            std::string{listing_columns},
        {spec.name, spec.owner, k.hash, k.prefix, nlohmann::json(spec.allowed_models).dump(), days,
         text(spec.limits.requests_per_minute), text(spec.limits.tokens_per_minute), text(spec.limits.max_streams),
         text(spec.limits.tokens_per_day), text(spec.limits.tokens_per_month),
         spec.limits.priority_ceiling ? std::optional<std::string>{std::to_string(*spec.limits.priority_ceiling)}
                                      : std::nullopt,
         std::string{role_name(spec.role)}});
    if (!r) {
        return r.error();
    }
    if (r.value().rows.empty()) {
        return fail("key_name_taken", "a key named '" + spec.name + "' exists already (names stay taken after revoke)");
    }
    return listing_of(r.value().rows.front());
}

result<std::vector<key_listing>> list_keys(pg::connection& conn) {
    auto r = conn.query("SELECT " + std::string{listing_columns} + " FROM api_keys ORDER BY created_at, name");
    if (!r) {
        return r.error();
    }
    std::vector<key_listing> out;
    for (const auto& row : r.value().rows) {
        out.push_back(listing_of(row));
    }
    return out;
}

result<key_listing> show_key(pg::connection& conn, const std::string& name) {
    auto r = conn.query("SELECT " + std::string{listing_columns} + " FROM api_keys WHERE name = $1", {name});
    if (!r) {
        return r.error();
    }
    if (r.value().rows.empty()) {
        return fail("key_not_found", "no key named '" + name + "'");
    }
    return listing_of(r.value().rows.front());
}

result<key_listing> update_key(pg::connection& conn, const std::string& name, const key_change& change) {
    std::string sets = "updated_at = now()";
    std::vector<std::optional<std::string>> params{name};
    auto param = [&params](std::optional<std::string> value) {
        params.push_back(std::move(value));
        return "$" + std::to_string(params.size());
    };
    if (change.owner) {
        sets += ", owner = nullif(" + param(*change.owner) + ", '')";
    }
    if (change.allowed_models) {
        sets += ", allowed_models = ARRAY(SELECT jsonb_array_elements_text(" +
                param(nlohmann::json(*change.allowed_models).dump()) + "::jsonb))";
    }
    if (change.role) {
        sets += ", role = " + param(std::string{role_name(*change.role)});
    }
    if (change.expires_in_days) {
        sets += ", expires_at = now() + " +
                param(*change.expires_in_days ? std::optional<std::string>{std::to_string(**change.expires_in_days)}
                                              : std::nullopt) +
                "::integer * interval '1 day'";
    }
    const std::optional<std::optional<std::int64_t>>* limits[] = {
        &change.limits.requests_per_minute, &change.limits.tokens_per_minute, &change.limits.max_streams,
        &change.limits.tokens_per_day,      &change.limits.tokens_per_month,  &change.limits.priority_ceiling};
    for (std::size_t i = 0; i < std::size(limits); ++i) {
        if (*limits[i]) {
            sets += std::string{", "} + limit_column_names[i] + " = " + param(text(**limits[i])) + "::bigint";
        }
    }
    auto r = conn.query("UPDATE api_keys SET " + sets + " WHERE name = $1 AND revoked_at IS NULL RETURNING " +
                            std::string{listing_columns},
                        params);
    if (!r) {
        return r.error();
    }
    if (r.value().rows.empty()) {
        return fail("key_not_found", "no usable key named '" + name + "' (unknown, or revoked)");
    }
    return listing_of(r.value().rows.front());
}

result<void> revoke_key(pg::connection& conn, const std::string& name) {
    auto r = conn.query(
        "UPDATE api_keys SET revoked_at = now(), updated_at = now() WHERE name = $1 AND revoked_at IS NULL", {name});
    if (!r) {
        return r.error();
    }
    if (r.value().affected == 0) {
        return fail("key_not_found", "no usable key named '" + name + "' (unknown, or revoked already)");
    }
    return ok();
}

result<std::vector<stored_key>> load_usable_keys(pg::connection& conn) {
    auto r = conn.query(
        "SELECT key_hash, id::text, name, array_to_json(allowed_models)::text, "
        "(extract(epoch FROM expires_at) * 1000)::bigint, " LLMP_KEY_LIMIT_COLUMNS
        ", role FROM api_keys "
        "WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())");
    if (!r) {
        return r.error();
    }
    std::vector<stored_key> out;
    out.reserve(r.value().rows.size());
    for (const auto& row : r.value().rows) {
        stored_key s;
        s.hash = row[0].value_or("");
        s.key.id = row[1].value_or("");
        s.key.name = row[2].value_or("");
        s.key.allowed_models = models_of(row[3]);
        if (row[4]) {
            s.key.expires_at = std::chrono::system_clock::time_point{std::chrono::milliseconds{std::stoll(*row[4])}};
        }
        s.key.limits = limits_of(row, 5);
        s.key.role = role_of(row[11]);
        out.push_back(std::move(s));
    }
    return out;
}

}  // namespace llmp::keys
