#pragma once
// config_file: the optional TOML file (`--config FILE`, env LLMPROXY_CONFIG) that may hold
// everything the flags hold. Parsed by toml++ (Debian's libtomlplusplus-dev), applied through
// CLI11's own options, so a value from the file goes through the same validators as the flag.
//
//   amqp-url = "amqp://mq:5672/"      # top level: every subcommand that has the flag
//   [api]                             # one table per subcommand ([keys.create] for a nested one,
//   port = 8080                       #   [keys] for all of keys' subcommands)
//   model-alias = ["default=llama3.2:3b"]
//   [api.model-aliases]               # a table of NAME = VALUE for a repeatable NAME=VALUE flag
//   gpt-4o-mini = "llama3.2:3b"
//
// Keys are the long flag names without the dashes. Precedence: flags > environment > file: the
// file fills only options neither the command line nor an LLMPROXY_* variable set. Used on the
// main thread during argument parsing only.

#include "common/result.hpp"

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace llmp::programs {

/// One key of the file.
struct config_entry {
    std::vector<std::string> section;  ///< subcommand path ({} = top level, {"keys","create"})
    std::string key;                   ///< the flag's long name without dashes
    std::vector<std::string> values;   ///< one per array element; a NAME=VALUE table gives "NAME=VALUE" items
    std::string where;                 ///< "FILE:LINE" for messages
    /// The name shown in messages: "api.port", "amqp-url".
    std::string name() const;
};

/// Reads and flattens the file; a syntax error or an unsupported value (nested arrays, dates)
/// comes back with its line.
result<std::vector<config_entry>> read_config_file(const std::string& path);

/// Adds --config to every leaf subcommand of `app` (a subcommand with no subcommands of its own)
/// and applies the file once the command line and environment are parsed, before the
/// subcommand runs. An unknown key in the subcommand's own table, or a value its flag refuses,
/// ends the program with the key's name (CLI::ConfigError, exit code 2).
void add_config_option_to_leaves(CLI::App& app);

/// Everything wrong with `entries` for the commands of `app` (a freshly built application whose
/// callbacks are never run): unknown tables and keys, values a flag refuses. Empty = valid.
/// The environment is not consulted: this checks the file alone.
std::vector<std::string> check_config(const std::vector<config_entry>& entries, CLI::App& app);

/// `llmproxy config check FILE`. `build` adds every subcommand to a fresh application.
void add_config_command(CLI::App& app, int& exit_code, void (*build)(CLI::App&, int&));

}  // namespace llmp::programs
