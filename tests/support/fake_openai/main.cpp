// fake_openai: the in-process fake OpenAI-compatible server (fake_openai.hpp) as a stand-alone
// server, for end-to-end tests. Prints "listening on 127.0.0.1:<port>" (and writes the port to
// --port-file) once it accepts connections, then serves until SIGINT or SIGTERM.

#include "common/stop_signals.hpp"
#include "fake_openai/fake_openai.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>

namespace {

constexpr const char* usage =
    "usage: fake_openai [--port N] [--port-file PATH] [--host ADDR] [--token-delay-ms N]\n"
    "                   [--tokens N] [--models a,b,c] [--api-key KEY] [--threads N] [--help]\n"
    "\n"
    "A fake OpenAI-compatible server (GET /v1/models; POST /v1/chat/completions,\n"
    "/v1/completions, streaming or not; GET /_fake/stats). Answers are the mock provider's\n"
    "deterministic text.\n"
    "\n"
    "  --port N            TCP port; 0 (default) picks a free one\n"
    "  --port-file PATH    write the bound port to PATH once listening\n"
    "  --host ADDR         address to bind (default 127.0.0.1)\n"
    "  --token-delay-ms N  delay before each streamed token (default 0)\n"
    "  --tokens N          tokens per answer unless max_tokens is smaller (default 32)\n"
    "  --models LIST       comma-separated model ids for /v1/models\n"
    "                      (default gpt-4o-mini,Qwen/Qwen2.5-7B-Instruct)\n"
    "  --api-key KEY       require \"Authorization: Bearer KEY\" (also FAKE_OPENAI_API_KEY)\n"
    "  --threads N         server threads (default 1)\n"
    "  --no-stream-usage   ignore stream_options.include_usage (like some servers)\n"
    "\n"
    "Failure triggers in the prompt: [[error-mid]] [[429]] [[error-before]] [[close-mid]] [[stall]]\n";

[[noreturn]] void bad_usage(const std::string& why) {
    std::cerr << "fake_openai: " << why << "\n\n" << usage;
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

const char* text(std::string_view flag, const char* value) {
    if (value == nullptr) {
        bad_usage(std::string{flag} + " needs a value");
    }
    return value;
}

}  // namespace

int main(int argc, char** argv) {
    llmp::testing::fake_openai_options opts;
    std::string port_file;
    if (const char* key = std::getenv("FAKE_OPENAI_API_KEY"); key != nullptr) {
        opts.api_key = key;
    }
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        const char* next = i + 1 < argc ? argv[i + 1] : nullptr;
        if (arg == "--help" || arg == "-h") {
            std::cout << usage;
            return 0;
        } else if (arg == "--port") {
            opts.port = static_cast<std::uint16_t>(number(arg, next, 0, 65535));
        } else if (arg == "--port-file") {
            port_file = text(arg, next);
        } else if (arg == "--host") {
            opts.host = text(arg, next);
        } else if (arg == "--token-delay-ms") {
            opts.token_delay = std::chrono::milliseconds{number(arg, next, 0, 3'600'000)};
        } else if (arg == "--tokens") {
            opts.tokens = static_cast<int>(number(arg, next, 1, 1'000'000));
        } else if (arg == "--threads") {
            opts.threads = static_cast<int>(number(arg, next, 1, 256));
        } else if (arg == "--no-stream-usage") {
            opts.stream_usage = false;
            --i;  // takes no value
        } else if (arg == "--api-key") {
            opts.api_key = text(arg, next);
        } else if (arg == "--models") {
            opts.models.clear();
            std::string_view list = text(arg, next);
            while (!list.empty()) {
                auto comma = list.find(',');
                auto name = list.substr(0, comma);
                if (!name.empty()) {
                    opts.models.emplace_back(name);
                }
                list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
            }
        } else {
            bad_usage("unknown argument '" + std::string{arg} + "'");
        }
        ++i;
    }

    // Block the stop signals before any thread starts, so only the sigwait below sees them.
    llmp::block_stop_signals();

    try {
        llmp::testing::fake_openai server{opts};
        if (!port_file.empty()) {
            // Write then rename, so a reader never sees a half-written file.
            std::string tmp = port_file + ".tmp";
            std::ofstream{tmp} << server.port() << "\n";
            std::rename(tmp.c_str(), port_file.c_str());
        }
        std::cout << "listening on " << opts.host << ":" << server.port() << std::endl;
        llmp::wait_for_stop_signal();
        server.stop();
    } catch (const std::exception& e) {
        std::cerr << "fake_openai: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
