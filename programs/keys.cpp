// `llmproxy keys create|list|revoke`: the API keys in the audit database (keys/key_store.hpp).
// A new key's plaintext goes to stdout once and nowhere else (no log line carries it).

#include "common/logging.hpp"
#include "common/stop_signals.hpp"
#include "keys/key_store.hpp"
#include "pg/connection.hpp"
#include "programs/commands.hpp"
#include "programs/common_options.hpp"

#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace llmp::programs {
namespace {

constexpr const char* default_database_url = "postgresql://postgres@127.0.0.1:5432/llmproxy";

std::vector<std::string> split_patterns(const std::string& list) {
    std::vector<std::string> out;
    std::string cur;
    auto flush = [&] {
        auto b = cur.find_first_not_of(" \t");
        auto e = cur.find_last_not_of(" \t");
        if (b != std::string::npos) {
            out.push_back(cur.substr(b, e - b + 1));
        }
        cur.clear();
    };
    for (char c : list) {
        if (c == ',') {
            flush();
        } else {
            cur += c;
        }
    }
    flush();
    return out;
}

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) {
        out += (out.empty() ? "" : ",") + s;
    }
    return out;
}

/// Opens the database and runs `body`; the exit code: 0 done, 1 database or body failure,
/// 2 a malformed URL.
int with_database(const char* what, const std::string& url, const common_options& common,
                  const std::function<result<void>(pg::connection&)>& body) {
    llmp::log::setup(common.log_level, "keys");
    unblock_stop_signals();
    if (auto v = pg::check_url(url); !v) {
        std::fprintf(stderr, "llmproxy keys %s: %s\n", what, v.error().message.c_str());
        return 2;
    }
    auto conn = pg::connection::open(url, 10, std::string{"llmproxy keys "} + what);
    if (!conn) {
        std::fprintf(stderr, "llmproxy keys %s: %s\n", what, conn.error().message.c_str());
        return 1;
    }
    if (auto r = body(*conn.value()); !r) {
        std::fprintf(stderr, "llmproxy keys %s: %s\n", what, r.error().message.c_str());
        return 1;
    }
    return 0;
}

struct shared_flags {
    std::string url = default_database_url;
    common_options common;
};

std::shared_ptr<shared_flags> add_shared_flags(CLI::App& cmd) {
    auto f = std::make_shared<shared_flags>();
    add_log_options(cmd, f->common);
    add_database_option(cmd, f->url);
    return f;
}

void add_create(CLI::App& keys, int& exit_code) {
    auto* cmd = keys.add_subcommand("create", "Create a key and print it once (only its hash is stored)");
    auto f = add_shared_flags(*cmd);
    auto spec = std::make_shared<keys::key_spec>();
    auto models = std::make_shared<std::string>();
    auto days = std::make_shared<int>(0);
    cmd->add_option("--name", spec->name, "unique name of the key")->required();
    cmd->add_option("--owner", spec->owner, "owner or team label");
    cmd->add_option("--models", *models, "comma-separated glob patterns of the models it may use (empty = all)");
    auto* expires = cmd->add_option("--expires-in-days", *days, "days until it expires (unset = never)")
                        ->check(CLI::Range(1, 36500));
    auto role = std::make_shared<std::string>("user");
    cmd->add_option("--role", *role,
                    "user: calls the API; viewer: reads the monitor's numbers (no texts); admin: everything")
        ->check(CLI::IsMember({"user", "viewer", "admin"}))
        ->capture_default_str();
    cmd->callback([f, spec, models, days, expires, role, &exit_code] {
        spec->allowed_models = split_patterns(*models);
        spec->role = keys::parse_role(*role).value_or(keys::key_role::user);
        if (expires->count() > 0) {
            spec->expires_in_days = *days;
        }
        exit_code = with_database("create", f->url, f->common, [spec](pg::connection& c) -> result<void> {
            auto k = keys::generate_key();
            auto made = keys::create_key(c, *spec, k);
            if (!made) {
                return made.error();
            }
            const auto& m = made.value();
            std::printf("%s\n", k.plaintext.c_str());
            std::fprintf(stderr,
                         "created %s key '%s' (id %s, prefix %s, models %s, expires %s): the line above is the key; "
                         "it is shown this once\n",
                         std::string{keys::role_name(m.role)}.c_str(), m.name.c_str(), m.id.c_str(), m.prefix.c_str(),
                         m.allowed_models.empty() ? "all" : join(m.allowed_models).c_str(),
                         m.expires_at ? m.expires_at->c_str() : "never");
            return ok();
        });
    });
}

void add_list(CLI::App& keys, int& exit_code) {
    auto* cmd = keys.add_subcommand("list", "List the keys (name, prefix, role, owner, models, dates; never the key)");
    auto f = add_shared_flags(*cmd);
    cmd->callback([f, &exit_code] {
        exit_code = with_database("list", f->url, f->common, [](pg::connection& c) -> result<void> {
            auto listed = keys::list_keys(c);
            if (!listed) {
                return listed.error();
            }
            std::printf("%-20s %-13s %-6s %-16s %-24s %-21s %-21s %s\n", "NAME", "PREFIX", "ROLE", "OWNER", "MODELS",
                        "CREATED", "EXPIRES", "REVOKED");
            for (const auto& k : listed.value()) {
                std::printf("%-20s %-13s %-6s %-16s %-24s %-21s %-21s %s\n", k.name.c_str(), k.prefix.c_str(),
                            std::string{keys::role_name(k.role)}.c_str(), k.owner.empty() ? "-" : k.owner.c_str(),
                            k.allowed_models.empty() ? "*" : join(k.allowed_models).c_str(), k.created_at.c_str(),
                            k.expires_at.value_or("-").c_str(), k.revoked_at.value_or("-").c_str());
            }
            return ok();
        });
    });
}

void add_revoke(CLI::App& keys, int& exit_code) {
    auto* cmd = keys.add_subcommand("revoke", "Revoke a key by name (API servers refuse it within 2 s)");
    auto f = add_shared_flags(*cmd);
    auto name = std::make_shared<std::string>();
    cmd->add_option("name", *name, "the key's name")->required();
    cmd->callback([f, name, &exit_code] {
        exit_code = with_database("revoke", f->url, f->common, [name](pg::connection& c) -> result<void> {
            if (auto r = keys::revoke_key(c, *name); !r) {
                return r;
            }
            std::printf("revoked key '%s'\n", name->c_str());
            return ok();
        });
    });
}

}  // namespace

void add_keys_command(CLI::App& app, int& exit_code) {
    auto* cmd = app.add_subcommand("keys", "Manage API keys (create, list, revoke) in the audit database");
    cmd->require_subcommand(1);
    add_create(*cmd, exit_code);
    add_list(*cmd, exit_code);
    add_revoke(*cmd, exit_code);
}

}  // namespace llmp::programs
