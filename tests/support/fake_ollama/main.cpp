// fake_ollama: the in-process fake Ollama (fake_ollama.hpp) as a stand-alone server, for
// end-to-end tests and benchmarks. Prints "listening on 127.0.0.1:<port>" once it accepts
// connections, then serves until SIGINT or SIGTERM.

#include "common/stop_signals.hpp"
#include "fake_ollama/fake_ollama.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

namespace {

constexpr const char* usage =
    "usage: fake_ollama [--port N] [--host ADDR] [--token-delay-ms N] [--tokens N]\n"
    "                   [--models a,b,c] [--threads N] [--help]\n"
    "\n"
    "A fake Ollama server (GET /, /api/version, /api/tags, /api/ps; POST /api/chat,\n"
    "/api/generate, streaming or not). Answers are the mock provider's deterministic text.\n"
    "\n"
    "  --port N            TCP port; 0 (default) picks a free one\n"
    "  --host ADDR         address to bind (default 127.0.0.1)\n"
    "  --token-delay-ms N  delay before each streamed token (default 0)\n"
    "  --tokens N          tokens per answer without options.num_predict (default 32)\n"
    "  --models LIST       comma-separated models for /api/tags\n"
    "                      (default llama3.2:latest,qwen2.5:0.5b,fake:latest)\n"
    "  --threads N         server threads (default 1)\n"
    "\n"
    "Failure triggers in the prompt: [[error-mid]] [[close-mid]] [[error-before]] [[stall]] [[stall-before]]\n"
    "Per request: options.mock_token_delay_ms overrides --token-delay-ms.\n";

[[noreturn]] void bad_usage(const std::string& why) {
    std::cerr << "fake_ollama: " << why << "\n\n" << usage;
    std::exit(2);
}

long number(std::string_view flag, const char* value, long min, long max) {
    if (value == nullptr) {
        bad_usage(std::string{flag} + " needs a value");
    }
    char* end = nullptr;
    long v = std::strtol(value, &end, 10);
    if (end == value || *end != '\0' || v < min || v > max) {
        bad_usage(std::string{flag} + ": bad number '" + value + "'");
    }
    return v;
}

}  // namespace

int main(int argc, char** argv) {
    llmp::testing::fake_ollama_options opts;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        const char* next = i + 1 < argc ? argv[i + 1] : nullptr;
        if (arg == "--help" || arg == "-h") {
            std::cout << usage;
            return 0;
        } else if (arg == "--port") {
            opts.port = static_cast<std::uint16_t>(number(arg, next, 0, 65535));
            ++i;
        } else if (arg == "--host") {
            if (next == nullptr) {
                bad_usage("--host needs a value");
            }
            opts.host = next;
            ++i;
        } else if (arg == "--token-delay-ms") {
            opts.token_delay = std::chrono::milliseconds{number(arg, next, 0, 3'600'000)};
            ++i;
        } else if (arg == "--tokens") {
            opts.tokens = static_cast<int>(number(arg, next, 1, 1'000'000));
            ++i;
        } else if (arg == "--threads") {
            opts.threads = static_cast<int>(number(arg, next, 1, 256));
            ++i;
        } else if (arg == "--models") {
            if (next == nullptr) {
                bad_usage("--models needs a value");
            }
            opts.models.clear();
            std::string_view list = next;
            while (!list.empty()) {
                auto comma = list.find(',');
                auto name = list.substr(0, comma);
                if (!name.empty()) {
                    opts.models.emplace_back(name);
                }
                list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
            }
            ++i;
        } else {
            bad_usage("unknown argument '" + std::string{arg} + "'");
        }
    }

    // Block the stop signals before any thread starts, so only the sigwait below sees them.
    llmp::block_stop_signals();

    try {
        llmp::testing::fake_ollama server{opts};
        std::cout << "listening on " << opts.host << ":" << server.port() << std::endl;
        llmp::wait_for_stop_signal();
        server.stop();
    } catch (const std::exception& e) {
        std::cerr << "fake_ollama: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
