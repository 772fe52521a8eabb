#pragma once
// The executables of the fake upstreams (fake_ollama, fake_openai) share their flags and their
// life: parse, bind, say where, serve until SIGINT/SIGTERM. Each main() adds what is its own.

#include "common/stop_signals.hpp"

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <string>

namespace llmp::testing {

/// The flags every fake takes, bound to its options (fields host, port, token_delay, tokens,
/// models, threads) and a --port-file. Call finish() after parsing.
template <class Options>
class fake_server_flags {
public:
    fake_server_flags(CLI::App& app, Options& opts) : opts_{opts} {
        app.add_option("--port", opts.port, "TCP port; 0 picks a free one")->capture_default_str();
        app.add_option("--port-file", port_file, "write the bound port to this file once listening");
        app.add_option("--host", opts.host, "address to bind")->capture_default_str();
        app.add_option("--token-delay-ms", delay_ms_, "delay before each streamed token")
            ->check(CLI::Range(0, 3'600'000))
            ->capture_default_str();
        app.add_option("--tokens", opts.tokens, "tokens per answer unless the request asks for fewer")
            ->check(CLI::Range(1, 1'000'000))
            ->capture_default_str();
        app.add_option("--models", opts.models, "comma-separated models it serves")
            ->delimiter(',')
            ->capture_default_str();
        app.add_option("--threads", opts.threads, "server threads")->check(CLI::Range(1, 256))->capture_default_str();
    }

    void finish() { opts_.token_delay = std::chrono::milliseconds{delay_ms_}; }

    std::string port_file;

private:
    Options& opts_;
    long delay_ms_ = 0;
};

/// Binds a `Fake` (throws -> exit 1), writes `port_file` (write then rename: a reader never
/// sees half a number), prints "listening on <host>:<port>", serves until SIGINT or SIGTERM.
template <class Fake, class Options>
int serve_until_stopped(const char* name, const Options& opts, const std::string& port_file) {
    // Blocked before any thread starts, so only the sigwait below sees them.
    block_stop_signals();
    try {
        Fake server{opts};
        if (!port_file.empty()) {
            const std::string tmp = port_file + ".tmp";
            std::ofstream{tmp} << server.port() << "\n";
            std::rename(tmp.c_str(), port_file.c_str());
        }
        std::cout << "listening on " << opts.host << ":" << server.port() << std::endl;
        wait_for_stop_signal();
        server.stop();
    } catch (const std::exception& e) {
        std::cerr << name << ": " << e.what() << "\n";
        return 1;
    }
    return 0;
}

}  // namespace llmp::testing
