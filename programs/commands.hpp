#pragma once
// The subcommand table. Each add_x_command() registers its flags (bound to the component's
// config struct, each with an LLMPROXY_* environment variable) and a callback that runs the
// process and stores its exit code.

#include <string>

namespace CLI {
class App;
}

namespace llmp::programs {

void add_api_command(CLI::App& app, int& exit_code);
void add_worker_command(CLI::App& app, int& exit_code);
void add_audit_command(CLI::App& app, int& exit_code);
void add_migrate_command(CLI::App& app, int& exit_code);
void add_monitor_command(CLI::App& app, int& exit_code);
void add_keys_command(CLI::App& app, int& exit_code);
/// --database-url (env LLMPROXY_DATABASE_URL), shared by audit and migrate.
void add_database_option(CLI::App& cmd, std::string& url);

}  // namespace llmp::programs
