#include "common/logging.hpp"
#include "common/stop_signals.hpp"
#include "pg/connection.hpp"
#include "pg/migrations.hpp"
#include "programs/commands.hpp"
#include "programs/common_options.hpp"

namespace llmp::programs {

void add_migrate_command(CLI::App& app, int& exit_code) {
    auto* cmd = app.add_subcommand("migrate", "Apply pending schema migrations to the audit database");
    auto url = std::make_shared<std::string>("postgresql://postgres@127.0.0.1:5432/llmproxy");
    auto common = std::make_shared<common_options>();
    add_log_options(*cmd, *common);
    add_database_option(*cmd, *url);
    cmd->callback([url, common, &exit_code] {
        llmp::log::setup(common->log_level, "migrate");
        unblock_stop_signals();  // no handler: SIGINT/SIGTERM end it at once (the transaction rolls back)
        if (auto v = pg::check_url(*url); !v) {
            std::fprintf(stderr, "llmproxy migrate: %s\n", v.error().message.c_str());
            exit_code = 2;
            return;
        }
        auto conn = pg::connection::open(*url, 10, "llmproxy migrate");
        if (!conn) {
            std::fprintf(stderr, "llmproxy migrate: %s\n", conn.error().message.c_str());
            exit_code = 1;
            return;
        }
        auto applied = pg::migrate(*conn.value());
        if (!applied) {
            std::fprintf(stderr, "llmproxy migrate: %s\n", applied.error().message.c_str());
            exit_code = 1;
            return;
        }
        std::printf("schema is current (version %d; %d migration(s) applied now)\n",
                    pg::all_migrations().back().version, applied.value());
        exit_code = 0;
    });
}

}  // namespace llmp::programs
