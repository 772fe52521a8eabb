#pragma once
// child_process: a process started by a test (an llmproxy subcommand, the fake Ollama), in its
// own process group, with stdout and stderr going to a log file. The destructor kills the group
// (SIGKILL) if it still runs, so a failing test leaves no process behind.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace llmp::testing {

class child_process {
public:
    /// Starts argv[0] with argv; `env` entries ("K=V") are added to the current environment.
    child_process(std::string name, std::vector<std::string> argv, std::vector<std::string> env,
                  std::filesystem::path log_file);
    ~child_process();
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    const std::string& name() const { return name_; }
    pid_t pid() const { return pid_; }
    bool running();
    /// Sends `sig` to the process group.
    void signal(int sig);
    /// The exit code (128+signal if killed), or nullopt if still running after `timeout`.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout);
    /// SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit code.
    int stop(std::chrono::milliseconds grace = std::chrono::seconds{10});

    std::string log() const;
    const std::filesystem::path& log_file() const { return log_file_; }
    /// Waits until the log contains `needle` (polls the file), or the process exits.
    bool wait_for_log(std::string_view needle, std::chrono::milliseconds timeout);

private:
    std::string name_;
    std::filesystem::path log_file_;
    pid_t pid_ = -1;
    std::optional<int> exit_code_;
};

/// A fresh directory for one test's logs and files: <build>/test-output/<suite>.<test>/,
/// emptied at the test's first call; later calls in the same test return it as it is.
std::filesystem::path test_output_dir();

/// Reads a port written by `--port-file` (waits until the file appears).
std::optional<unsigned> read_port_file(const std::filesystem::path& file, std::chrono::milliseconds timeout,
                                       child_process* owner = nullptr);

}  // namespace llmp::testing
