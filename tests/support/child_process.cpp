#include "support/child_process.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace llmp::testing {
namespace {

using namespace std::chrono_literals;

// Polling interval for conditions a test waits on (process exit, a file appearing). Not a
// guess at how long something takes: every wait has its own deadline.
constexpr auto poll_interval = 10ms;

}  // namespace

child_process::child_process(std::string name, std::vector<std::string> argv, std::vector<std::string> env,
                             std::filesystem::path log_file)
    : name_{std::move(name)}, log_file_{std::move(log_file)} {
    std::vector<std::string> envs;
    for (char** e = environ; *e != nullptr; ++e) {
        envs.emplace_back(*e);
    }
    for (auto& e : env) {
        envs.push_back(std::move(e));
    }
    std::vector<char*> cargv;
    for (auto& a : argv) {
        cargv.push_back(a.data());
    }
    cargv.push_back(nullptr);
    std::vector<char*> cenv;
    for (auto& e : envs) {
        cenv.push_back(e.data());
    }
    cenv.push_back(nullptr);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    int rc = posix_spawn(&pid_, cargv[0], &fa, &attr, cargv.data(), cenv.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
    }
}

child_process::~child_process() {
    if (running()) {
        signal(SIGKILL);
        wait_exit(10s);
    }
}

bool child_process::running() {
    if (exit_code_ || pid_ <= 0) {
        return false;
    }
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        ::kill(-pid_, SIGKILL);  // anything it left in its group
        return false;
    }
    return true;
}

void child_process::signal(int sig) {
    if (pid_ > 0 && !exit_code_) {
        ::kill(-pid_, sig);
    }
}

std::optional<int> child_process::wait_exit(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (running()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return std::nullopt;
        }
        std::this_thread::sleep_for(poll_interval);
    }
    return exit_code_;
}

int child_process::stop(std::chrono::milliseconds grace) {
    signal(SIGTERM);
    if (auto code = wait_exit(grace)) {
        return *code;
    }
    signal(SIGKILL);
    return wait_exit(10s).value_or(-1);
}

std::string child_process::log() const {
    std::ifstream in{log_file_};
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

bool child_process::wait_for_log(std::string_view needle, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (log().find(needle) != std::string::npos) {
            return true;
        }
        if (!running() || std::chrono::steady_clock::now() >= deadline) {
            return log().find(needle) != std::string::npos;
        }
        std::this_thread::sleep_for(poll_interval);
    }
}

std::filesystem::path test_output_dir() {
    std::filesystem::path base = LLMPROXY_TEST_OUTPUT_DIR;
    if (const auto* info = ::testing::UnitTest::GetInstance()->current_test_info()) {
        base /= std::string{info->test_suite_name()} + "." + info->name();
    } else {
        base /= "global";
    }
    // Emptied at the first call of each test only. Emptying it at every call (the cluster's, a
    // helper's log, a file of the test's own) raced with the children already writing there:
    // remove_all failed with "Directory not empty" when a child created a file meanwhile, and
    // the running children's logs were unlinked.
    static std::mutex mu;
    static std::filesystem::path emptied;
    std::lock_guard lock{mu};
    if (emptied != base) {
        std::filesystem::remove_all(base);
        emptied = base;
    }
    std::filesystem::create_directories(base);
    return base;
}

std::optional<unsigned> read_port_file(const std::filesystem::path& file, std::chrono::milliseconds timeout,
                                       child_process* owner) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        std::ifstream in{file};
        unsigned port = 0;
        if (in >> port && port != 0) {
            return port;
        }
        if (owner != nullptr && !owner->running()) {
            return std::nullopt;
        }
        std::this_thread::sleep_for(poll_interval);
    }
    return std::nullopt;
}

}  // namespace llmp::testing
