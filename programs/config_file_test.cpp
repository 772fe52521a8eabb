// The config file: what it sets, and that flags and the environment override it (CLI11 alone
// would let a config file beat the environment), through a small CLI11 application shaped like
// llmproxy's (subcommands with flags bound to variables, each with an environment variable).

#include "programs/config_file.hpp"

#include <CLI/CLI.hpp>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace llmp::programs {
namespace {

struct settings {
    int port = 8080;
    std::string listen = "127.0.0.1";
    std::string url = "amqp://default";
    std::vector<std::string> aliases;
    bool images = false;
    int concurrency = 1;
    std::string worker_url = "amqp://default";
    bool api_ran = false;
};

/// `app api [--port --listen --amqp-url --model-alias]` and `app worker [--concurrency
/// --amqp-url --allow-remote-images]`, each flag with an LLMPROXY_CFGTEST_* variable (not LLMPROXY_TEST_*: scripts/test exports LLMPROXY_TEST_AMQP_URL).
struct test_app {
    test_app() {
        auto* api = app.add_subcommand("api");
        api->add_option("--port", s.port)->envname("LLMPROXY_CFGTEST_PORT")->check(CLI::Range(0, 65535));
        api->add_option("--listen", s.listen)->envname("LLMPROXY_CFGTEST_LISTEN");
        api->add_option("--amqp-url", s.url)->envname("LLMPROXY_CFGTEST_AMQP_URL");
        api->add_option("--model-alias", s.aliases)->envname("LLMPROXY_CFGTEST_ALIASES")->delimiter(',');
        api->callback([this] { s.api_ran = true; });
        auto* worker = app.add_subcommand("worker");
        worker->add_option("--concurrency", s.concurrency)->check(CLI::PositiveNumber);
        worker->add_option("--amqp-url", s.worker_url);
        worker->add_flag("--allow-remote-images", s.images);
        app.require_subcommand(1);
        add_config_option_to_leaves(app);
    }
    void parse(std::vector<std::string> args) {
        std::vector<const char*> argv{"llmproxy"};
        for (const auto& a : args) {
            argv.push_back(a.c_str());
        }
        app.parse(static_cast<int>(argv.size()), argv.data());
    }
    CLI::App app;
    settings s;
};

/// A temporary TOML file, removed at the end of the test.
struct toml_file {
    explicit toml_file(const std::string& text) {
        char name[] = "/tmp/llmp_config_test_XXXXXX";
        int fd = ::mkstemp(name);
        ::close(fd);
        path = name;
        std::ofstream{path} << text;
    }
    ~toml_file() { std::remove(path.c_str()); }
    std::string path;
};

/// Sets an environment variable for one test.
struct scoped_env {
    scoped_env(const char* name, const char* value) : name_{name} { ::setenv(name, value, 1); }
    ~scoped_env() { ::unsetenv(name_); }
    const char* name_;
};

const char* const example = R"(
amqp-url = "amqp://from-file"
[api]
port = 9000
listen = "0.0.0.0"
model-alias = ["default=llama3.2:3b"]
[api.model-aliases]
gpt-4o-mini = "llama3.2:3b"
"llama3.2" = "qwen2.5:7b"  # a quoted key may hold dots
[worker]
concurrency = 16
allow-remote-images = true
)";

TEST(ConfigFile, FillsWhatNeitherFlagsNorEnvironmentSet) {
    toml_file f{example};
    test_app t;
    t.parse({"api", "--config", f.path});
    EXPECT_TRUE(t.s.api_ran);
    EXPECT_EQ(t.s.port, 9000);
    EXPECT_EQ(t.s.listen, "0.0.0.0");
    EXPECT_EQ(t.s.url, "amqp://from-file") << "top-level keys reach every subcommand with the flag";
    EXPECT_EQ(t.s.aliases,
              (std::vector<std::string>{"default=llama3.2:3b", "gpt-4o-mini=llama3.2:3b", "llama3.2=qwen2.5:7b"}));
    EXPECT_EQ(t.s.concurrency, 1) << "another subcommand's table is not applied";
}

TEST(ConfigFile, TheEnvironmentOverridesTheFileAndFlagsOverrideBoth) {
    toml_file f{example};
    scoped_env port{"LLMPROXY_CFGTEST_PORT", "9100"};
    scoped_env url{"LLMPROXY_CFGTEST_AMQP_URL", "amqp://from-env"};
    test_app t;
    t.parse({"api", "--config", f.path, "--port", "9200"});
    EXPECT_EQ(t.s.port, 9200) << "flag > environment > file";
    EXPECT_EQ(t.s.url, "amqp://from-env") << "environment > file";
    EXPECT_EQ(t.s.listen, "0.0.0.0") << "the file still fills the rest";
}

TEST(ConfigFile, TheFileCanBeNamedByTheEnvironment) {
    toml_file f{example};
    scoped_env config{"LLMPROXY_CONFIG", f.path.c_str()};
    test_app t;
    t.parse({"worker"});
    EXPECT_EQ(t.s.concurrency, 16);
    EXPECT_TRUE(t.s.images) << "a boolean sets a flag";
    EXPECT_EQ(t.s.worker_url, "amqp://from-file");
}

TEST(ConfigFile, AnUnknownKeyInTheSubcommandsTableIsAnErrorNamingIt) {
    toml_file f{"[api]\nprot = 1\n"};
    test_app t;
    try {
        t.parse({"api", "--config", f.path});
        FAIL() << "accepted";
    } catch (const CLI::ConfigError& e) {
        EXPECT_NE(std::string{e.what()}.find("unknown key 'api.prot'"), std::string::npos) << e.what();
        EXPECT_NE(std::string{e.what()}.find(f.path + ":2"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(t.s.api_ran);
}

TEST(ConfigFile, AValueTheFlagRefusesIsAnErrorNamingTheKey) {
    toml_file f{"[api]\nport = 70000\n"};
    test_app t;
    try {
        t.parse({"api", "--config", f.path});
        FAIL() << "accepted";
    } catch (const CLI::ConfigError& e) {
        EXPECT_NE(std::string{e.what()}.find("'api.port'"), std::string::npos) << e.what();
    }
}

TEST(ConfigFile, ASyntaxErrorNamesTheLine) {
    toml_file f{"[api]\nport = = 1\n"};
    auto r = read_config_file(f.path);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find(f.path + ":2:"), std::string::npos) << r.error().message;
    EXPECT_FALSE(read_config_file("/nonexistent/llmproxy.toml"));
}

TEST(ConfigCheck, AcceptsAGoodFileAndListsEveryProblemOfABadOne) {
    toml_file good{example};
    test_app fresh_good;
    EXPECT_TRUE(check_config(read_config_file(good.path).value(), fresh_good.app).empty());

    toml_file bad{R"(
colour = "blue"
[api]
port = "many"
[api.model-aliases.nested]
a = "b"
[wroker]
concurrency = 2
)"};
    test_app fresh_bad;
    auto errors = check_config(read_config_file(bad.path).value(), fresh_bad.app);
    ASSERT_EQ(errors.size(), 4u);
    std::string all;
    for (const auto& e : errors) {
        all += e + "\n";
    }
    EXPECT_NE(all.find("unknown key 'colour'"), std::string::npos) << all;
    EXPECT_NE(all.find("'api.port'"), std::string::npos) << all;
    EXPECT_NE(all.find("unknown table [model-aliases]"), std::string::npos) << all;
    EXPECT_NE(all.find("unknown table [wroker]"), std::string::npos) << all;
}

}  // namespace
}  // namespace llmp::programs
