// llmproxy: one executable, a subcommand per process (the ClickHouse programs/ pattern).
// Each run_x() parses nothing itself: the CLI11 options are bound in add_x_command(), and the
// callback builds the component, starts it and waits for a signal.

#include "common/stop_signals.hpp"
#include "common/version.hpp"
#include "programs/commands.hpp"
#include "programs/config_file.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <string>

namespace {

/// Every subcommand that runs a process or a task (all but `config`).
void add_process_commands(CLI::App& app, int& exit_code) {
    llmp::programs::add_api_command(app, exit_code);
    llmp::programs::add_worker_command(app, exit_code);
    llmp::programs::add_audit_command(app, exit_code);
    llmp::programs::add_migrate_command(app, exit_code);
    llmp::programs::add_monitor_command(app, exit_code);
    llmp::programs::add_keys_command(app, exit_code);
}

}  // namespace

int main(int argc, char** argv) {
    // Until the chosen command has its handler (common/stop_signals.hpp).
    llmp::block_stop_signals();
    CLI::App app{"llmproxy: a self-hosted LLM proxy (HTTP API -> RabbitMQ -> workers -> LLM providers)", "llmproxy"};
    app.set_version_flag("--version", "llmproxy " + std::string{llmp::llmproxy_version()});
    app.require_subcommand(1);
    int exit_code = 0;
    add_process_commands(app, exit_code);
    // --config on each of them (flags > LLMPROXY_* > file), then `config check`, which builds
    // the same commands afresh to check a file against their flags.
    llmp::programs::add_config_option_to_leaves(app);
    llmp::programs::add_config_command(app, exit_code, add_process_commands);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "llmproxy: %s\n", e.what());
        return 1;
    }
    return exit_code;
}
