// `llmproxy keys create|list|show|update|revoke`: the API keys in the audit database
// (keys/key_store.hpp).
// A new key's plaintext goes to stdout once and nowhere else (no log line carries it).

#include "common/logging.hpp"
#include "common/stop_signals.hpp"
#include "keys/key_rules.hpp"
#include "keys/key_store.hpp"
#include "pg/connection.hpp"
#include "programs/commands.hpp"
#include "programs/common_options.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
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

constexpr std::size_t limit_count = keys::limit_rules.size();

/// A CLI check by one of keys/key_rules.hpp's checks (the REST API uses the same ones). CLI11
/// puts the flag before the message, so the message's first word (the JSON field) goes.
CLI::Validator rule_check(std::function<result<void>(std::int64_t)> check) {
    return CLI::Validator(
        [check = std::move(check)](std::string& text) -> std::string {
            std::int64_t v = 0;
            if (!CLI::detail::lexical_cast(text, v)) {
                return "not a whole number: " + text;
            }
            auto r = check(v);
            if (r) {
                return {};
            }
            const auto& m = r.error().message;
            return m.substr(m.find(' ') + 1);
        },
        "");
}

/// The values given to the limit flags (keys::limit_rules: --rpm, --tpm, ...).
struct limit_values {
    std::array<std::int64_t, limit_count> value{};
    std::array<CLI::Option*, limit_count> option{};

    void add_to(CLI::App& cmd) {
        for (std::size_t i = 0; i < limit_count; ++i) {
            const auto& f = keys::limit_rules[i];
            option[i] = cmd.add_option("--" + std::string{f.name}, value[i], std::string{f.help})
                            ->check(rule_check([i](std::int64_t v) { return keys::check_limit(i, v); }));
        }
    }
    std::optional<std::int64_t> given(std::size_t i) const {
        return option[i]->count() > 0 ? std::optional<std::int64_t>{value[i]} : std::nullopt;
    }
};

CLI::Validator expiry_check() {
    return rule_check([](std::int64_t v) { return keys::check_expires_in_days(v); });
}

std::string limit_text(const std::optional<std::int64_t>& v) {
    return v ? std::to_string(*v) : "unlimited";
}

/// The lines of `keys show` (and what `create` and `update` print on stderr).
void print_key(std::FILE* out, const keys::key_listing& k) {
    const auto& l = k.limits;
    std::fprintf(
        out,
        "name:             %s\nid:               %s\nprefix:           %s\nrole:             %s\n"
        "owner:            %s\n"
        "models:           %s\ncreated:          %s\nexpires:          %s\nrevoked:          %s\n"
        "requests/minute:  %s\ntokens/minute:    %s\nmax streams:      %s\ntokens/day:       %s\n"
        "tokens/month:     %s\npriority ceiling: %s\n",
        k.name.c_str(), k.id.c_str(), k.prefix.c_str(), std::string{keys::role_name(k.role)}.c_str(),
        k.owner.empty() ? "-" : k.owner.c_str(), k.allowed_models.empty() ? "all" : join(k.allowed_models).c_str(),
        k.created_at.c_str(), k.expires_at.value_or("never").c_str(), k.revoked_at.value_or("no").c_str(),
        limit_text(l.requests_per_minute).c_str(), limit_text(l.tokens_per_minute).c_str(),
        limit_text(l.max_streams).c_str(), limit_text(l.tokens_per_day).c_str(), limit_text(l.tokens_per_month).c_str(),
        l.priority_ceiling ? std::to_string(*l.priority_ceiling).c_str() : "none");
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
    auto* expires =
        cmd->add_option("--expires-in-days", *days, "days until it expires (unset = never)")->check(expiry_check());
    auto role = std::make_shared<std::string>("user");
    cmd->add_option("--role", *role,
                    "user: calls the API; viewer: reads the monitor's numbers (no texts); admin: everything")
        ->check(CLI::IsMember({"user", "viewer", "admin"}))
        ->capture_default_str();
    auto limits = std::make_shared<limit_values>();
    limits->add_to(*cmd);
    cmd->callback([f, spec, models, days, expires, role, limits, &exit_code] {
        spec->allowed_models = split_patterns(*models);
        spec->role = keys::parse_role(*role).value_or(keys::key_role::user);
        if (expires->count() > 0) {
            spec->expires_in_days = *days;
        }
        for (std::size_t i = 0; i < limit_count; ++i) {
            keys::set_limit(spec->limits, i, limits->given(i));
        }
        if (auto checked = keys::check_spec(*spec); !checked) {
            std::fprintf(stderr, "llmproxy keys create: %s\n", checked.error().message.c_str());
            exit_code = 2;
            return;
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

void add_show(CLI::App& keys, int& exit_code) {
    auto* cmd = keys.add_subcommand("show", "Show one key: owner, models, dates and limits (never the key)");
    auto f = add_shared_flags(*cmd);
    auto name = std::make_shared<std::string>();
    cmd->add_option("name", *name, "the key's name")->required();
    cmd->callback([f, name, &exit_code] {
        exit_code = with_database("show", f->url, f->common, [name](pg::connection& c) -> result<void> {
            auto k = keys::show_key(c, *name);
            if (!k) {
                return k.error();
            }
            print_key(stdout, k.value());
            return ok();
        });
    });
}

void add_update(CLI::App& keys, int& exit_code) {
    auto* cmd = keys.add_subcommand("update",
                                    "Change a key's owner, models, role, expiry or limits (API servers apply it within "
                                    "2 s); --clear lifts a limit or the expiry");
    auto f = add_shared_flags(*cmd);
    auto name = std::make_shared<std::string>();
    cmd->add_option("name", *name, "the key's name")->required();
    auto owner = std::make_shared<std::string>();
    auto* owner_opt = cmd->add_option("--owner", *owner, "owner or team label (empty = none)");
    auto models = std::make_shared<std::string>();
    auto* models_opt =
        cmd->add_option("--models", *models, "comma-separated glob patterns of the models it may use (empty = all)");
    auto role = std::make_shared<std::string>();
    auto* role_opt = cmd->add_option("--role", *role, "user, viewer or admin (as for create)")
                         ->check(CLI::IsMember({"user", "viewer", "admin"}));
    auto days = std::make_shared<int>(0);
    auto* expires_opt =
        cmd->add_option("--expires-in-days", *days, "expires this many days from now (--clear expiry: never)")
            ->check(expiry_check());
    auto limits = std::make_shared<limit_values>();
    limits->add_to(*cmd);
    auto clear = std::make_shared<std::vector<std::string>>();
    std::vector<std::string> clear_names;
    for (const auto& l : keys::limit_rules) {
        clear_names.emplace_back(l.name);
    }
    clear_names.emplace_back("expiry");
    cmd->add_option("--clear", *clear,
                    "lift these limits (unlimited again) or the expiry, comma-separated or repeated: rpm, tpm, "
                    "max-streams, daily-tokens, monthly-tokens, priority-ceiling, expiry")
        ->delimiter(',')
        ->check(CLI::IsMember(clear_names));
    cmd->callback([=, &exit_code] {
        auto cleared = [&](std::string_view what) {
            return std::find(clear->begin(), clear->end(), what) != clear->end();
        };
        auto contradiction = [&](const std::string& flag, std::string_view what) {
            std::fprintf(stderr, "llmproxy keys update: %s and --clear %s contradict each other\n", flag.c_str(),
                         std::string{what}.c_str());
            exit_code = 2;
        };
        keys::key_change change;
        if (owner_opt->count() > 0) {
            change.owner = *owner;
        }
        if (models_opt->count() > 0) {
            change.allowed_models = split_patterns(*models);
        }
        if (role_opt->count() > 0) {
            change.role = keys::parse_role(*role);
        }
        if (expires_opt->count() > 0) {
            if (cleared("expiry")) {
                return contradiction("--expires-in-days", "expiry");
            }
            change.expires_in_days = std::optional<int>{*days};
        } else if (cleared("expiry")) {
            change.expires_in_days = std::optional<int>{};
        }
        for (std::size_t i = 0; i < limit_count; ++i) {
            const auto& rule = keys::limit_rules[i];
            auto& slot = keys::limit_change_of(change.limits, i);
            if (auto v = limits->given(i)) {
                slot = v;
            }
            if (cleared(rule.name)) {
                if (limits->given(i)) {
                    return contradiction("--" + std::string{rule.name}, rule.name);
                }
                slot = std::optional<std::int64_t>{};
            }
        }
        if (auto checked = keys::check_change(change); !checked) {
            std::fprintf(stderr, "llmproxy keys update: %s\n", checked.error().message.c_str());
            exit_code = 2;
            return;
        }
        exit_code = with_database("update", f->url, f->common, [name, change](pg::connection& c) -> result<void> {
            auto k = keys::update_key(c, *name, change);
            if (!k) {
                return k.error();
            }
            print_key(stdout, k.value());
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
    auto* cmd =
        app.add_subcommand("keys", "Manage API keys (create, list, show, update, revoke) in the audit database");
    cmd->require_subcommand(1);
    add_create(*cmd, exit_code);
    add_list(*cmd, exit_code);
    add_show(*cmd, exit_code);
    add_update(*cmd, exit_code);
    add_revoke(*cmd, exit_code);
}

}  // namespace llmp::programs
