#include "programs/config_file.hpp"

#include <CLI/CLI.hpp>
#include <toml++/toml.h>

#include <cstdio>
#include <algorithm>
#include <memory>
#include <set>
#include <sstream>

namespace llmp::programs {
namespace {

/// Tables spelled in the plural for a repeatable NAME=VALUE flag; any other table T maps to --T.
std::string table_flag(const std::string& table) {
    if (table == "model-aliases") {
        return "model-alias";
    }
    return table;
}

std::string where(const std::string& file, const toml::node& n) {
    return file + ":" + std::to_string(n.source().begin.line);
}

/// A scalar as the text a flag would take; nullopt for what has no flag form (dates, tables).
std::optional<std::string> scalar_text(const toml::node& n) {
    if (auto s = n.as_string()) {
        return s->get();
    }
    if (auto i = n.as_integer()) {
        return std::to_string(i->get());
    }
    if (auto f = n.as_floating_point()) {
        std::ostringstream out;
        out.precision(17);
        out << f->get();
        return out.str();
    }
    if (auto b = n.as_boolean()) {
        return b->get() ? "true" : "false";
    }
    return std::nullopt;
}

result<void> flatten(const toml::table& t, const std::vector<std::string>& section, const std::string& file,
                     std::vector<config_entry>& out) {
    for (const auto& [k, node] : t) {
        std::string key{k.str()};
        if (const auto* sub = node.as_table()) {
            auto inner = section;
            inner.push_back(key);
            if (auto r = flatten(*sub, inner, file, out); !r) {
                return r;
            }
            continue;
        }
        config_entry e;
        e.section = section;
        e.key = key;
        e.where = where(file, node);
        if (const auto* arr = node.as_array()) {
            for (const auto& item : *arr) {
                auto text = scalar_text(item);
                if (!text) {
                    return llmp::error{"bad_config", e.where + ": '" + e.name() +
                                                         "': an array may hold strings, "
                                                         "numbers and booleans only"};
                }
                e.values.push_back(std::move(*text));
            }
        } else if (auto text = scalar_text(node)) {
            e.values.push_back(std::move(*text));
        } else {
            return llmp::error{"bad_config", e.where + ": '" + e.name() + "': dates and times are not flag values"};
        }
        out.push_back(std::move(e));
    }
    return ok();
}

CLI::App* child(CLI::App& app, const std::string& name) {
    for (auto* sub : app.get_subcommands([](CLI::App*) { return true; })) {
        if (sub->get_name() == name) {
            return sub;
        }
    }
    return nullptr;
}

/// Where an entry points: the subcommand path its tables name, and the flag and values it sets
/// ("[api.model-aliases] a = "b"" -> path {api}, flag model-alias, values {"a=b"}).
struct target {
    std::vector<std::string> commands;
    std::string flag;
    std::vector<std::string> values;
    std::string table;  ///< the NAME=VALUE table the entry came from, if any
    std::string error;  ///< non-empty: the entry fits no command
};

target locate(const config_entry& e, CLI::App& root) {
    target t;
    CLI::App* at = &root;
    std::size_t i = 0;
    for (; i < e.section.size(); ++i) {
        auto* sub = child(*at, e.section[i]);
        if (sub == nullptr) {
            break;
        }
        at = sub;
        t.commands.push_back(e.section[i]);
    }
    const std::size_t rest = e.section.size() - i;
    if (rest == 0) {
        t.flag = e.key;
        t.values = e.values;
        return t;
    }
    if (rest > 1 || e.values.size() != 1) {
        t.error = e.where + ": unknown table [" + e.section[i] +
                  "] (a table names a subcommand, or a repeatable "
                  "NAME=VALUE flag with one value per key)";
        return t;
    }
    t.table = e.section[i];
    t.flag = table_flag(t.table);
    t.values = {e.key + "=" + e.values.front()};
    return t;
}

bool starts_with(const std::vector<std::string>& path, const std::vector<std::string>& prefix) {
    return prefix.size() <= path.size() && std::equal(prefix.begin(), prefix.end(), path.begin());
}

/// Gives `opt` the file's values and runs its callback (validators, then the bound variable).
void set_from_file(CLI::Option& opt, const target& t) {
    if (opt.get_expected_min() == 0) {  // a flag: true/false like on the command line
        for (const auto& v : t.values) {
            opt.add_result(opt.get_flag_value(t.flag, v));
        }
    } else {
        opt.add_result(t.values);
    }
    opt.run_callback();
}

/// The file's entries that apply to the leaf at `path`, applied where neither a flag nor the
/// environment set the option (CLI11 has read both by the time the leaf's parse completes).
void apply(const std::string& file, CLI::App& root, CLI::App& leaf, const std::vector<std::string>& path) {
    auto entries = read_config_file(file);
    if (!entries) {
        throw CLI::ConfigError(entries.error().message);
    }
    // Top level first, then each deeper table: the more specific value wins a single-valued flag.
    auto list = std::move(entries.value());
    std::stable_sort(list.begin(), list.end(),
                     [](const config_entry& a, const config_entry& b) { return a.section.size() < b.section.size(); });
    std::set<const CLI::Option*> from_file;
    for (const auto& e : list) {
        auto t = locate(e, root);
        if (!t.error.empty() || !starts_with(path, t.commands)) {
            continue;  // another subcommand's table (check_config reports the unknown ones)
        }
        auto* opt = leaf.get_option_no_throw("--" + t.flag);
        if (opt == nullptr || !opt->get_configurable()) {
            if (t.commands == path) {
                throw CLI::ConfigError(e.where + ": unknown key '" + e.name() + "' (llmproxy " + leaf.get_name() +
                                       " has no --" + t.flag + ")");
            }
            continue;  // a shared key (top level, [keys]) for the other subcommands
        }
        if (opt->count() > 0 && from_file.count(opt) == 0) {
            continue;  // the command line or the environment said otherwise: they win
        }
        if (opt->get_items_expected_max() == 1) {
            opt->clear();  // a scalar given twice in the file: the deeper table's value
        }
        from_file.insert(opt);
        try {
            set_from_file(*opt, t);
        } catch (const CLI::Error& err) {
            throw CLI::ConfigError(e.where + ": '" + e.name() + "': " + err.what());
        }
    }
}

void add_to_leaves(CLI::App& root, CLI::App& app, std::vector<std::string> path) {
    auto subs = app.get_subcommands([](CLI::App*) { return true; });
    if (subs.empty() && !path.empty()) {
        auto file = std::make_shared<std::string>();
        app.add_option("--config", *file,
                       "TOML file holding flags of this command (top-level keys and its [table]); flags and "
                       "LLMPROXY_* variables override it")
            ->envname("LLMPROXY_CONFIG")
            ->configurable(false);
        app.parse_complete_callback([file, &root, &app, path] {
            if (!file->empty()) {
                apply(*file, root, app, path);
            }
        });
        return;
    }
    for (auto* sub : subs) {
        auto inner = path;
        inner.push_back(sub->get_name());
        add_to_leaves(root, *sub, std::move(inner));
    }
}

void collect_leaves(CLI::App& app, std::vector<std::string> path,
                    std::vector<std::pair<std::vector<std::string>, CLI::App*>>& out) {
    auto subs = app.get_subcommands([](CLI::App*) { return true; });
    if (subs.empty() && !path.empty()) {
        out.emplace_back(std::move(path), &app);
        return;
    }
    for (auto* sub : subs) {
        auto inner = path;
        inner.push_back(sub->get_name());
        collect_leaves(*sub, std::move(inner), out);
    }
}

}  // namespace

std::string config_entry::name() const {
    std::string out;
    for (const auto& s : section) {
        out += s + ".";
    }
    return out + key;
}

result<std::vector<config_entry>> read_config_file(const std::string& path) {
    toml::table root;
    try {
        root = toml::parse_file(path);
    } catch (const toml::parse_error& e) {
        const auto& at = e.source().begin;
        return llmp::error{"bad_config", path + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) + ": " +
                                             std::string{e.description()}};
    }
    std::vector<config_entry> out;
    if (auto r = flatten(root, {}, path, out); !r) {
        return r.error();
    }
    return out;
}

void add_config_option_to_leaves(CLI::App& app) {
    add_to_leaves(app, app, {});
}

std::vector<std::string> check_config(const std::vector<config_entry>& entries, CLI::App& app) {
    std::vector<std::pair<std::vector<std::string>, CLI::App*>> leaves;
    collect_leaves(app, {}, leaves);
    std::vector<std::string> errors;
    for (const auto& e : entries) {
        auto t = locate(e, app);
        if (!t.error.empty()) {
            errors.push_back(t.error);
            continue;
        }
        bool known = false;
        for (auto& [path, leaf] : leaves) {
            if (!starts_with(path, t.commands)) {
                continue;
            }
            auto* opt = leaf->get_option_no_throw("--" + t.flag);
            if (opt == nullptr || !opt->get_configurable()) {
                continue;
            }
            known = true;
            try {
                opt->clear();
                set_from_file(*opt, t);
            } catch (const CLI::Error& err) {
                errors.push_back(e.where + ": '" + e.name() + "': " + err.what());
                break;
            }
        }
        if (!known && !t.table.empty()) {
            errors.push_back(e.where + ": unknown table [" + t.table + "] (no subcommand, and no flag --" + t.flag +
                             ")");
        } else if (!known) {
            errors.push_back(e.where + ": unknown key '" + e.name() + "' (no " +
                             (t.commands.empty() ? std::string{"subcommand"} : "llmproxy " + t.commands.front()) +
                             " flag --" + t.flag + ")");
        }
    }
    return errors;
}

void add_config_command(CLI::App& app, int& exit_code, void (*build)(CLI::App&, int&)) {
    auto* config = app.add_subcommand("config", "Configuration files");
    config->require_subcommand(1);
    auto* check = config->add_subcommand(
        "check",
        "Validate a config file: every table and key must name a subcommand and flag, every value "
        "must be one its flag takes (LLMPROXY_* variables are not read)");
    auto file = std::make_shared<std::string>();
    check->add_option("file", *file, "the TOML file")->required();
    check->callback([file, build, &exit_code] {
        auto entries = read_config_file(*file);
        if (!entries) {
            std::fprintf(stderr, "llmproxy config check: %s\n", entries.error().message.c_str());
            exit_code = 2;
            return;
        }
        CLI::App fresh;
        int unused = 0;
        build(fresh, unused);
        auto errors = check_config(entries.value(), fresh);
        for (const auto& e : errors) {
            std::fprintf(stderr, "llmproxy config check: %s\n", e.c_str());
        }
        if (!errors.empty()) {
            exit_code = 2;
            return;
        }
        std::printf("%s: ok (%zu keys)\n", file->c_str(), entries.value().size());
    });
}

}  // namespace llmp::programs
