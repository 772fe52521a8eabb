// fake_ollama: the in-process fake Ollama (fake_ollama.hpp) as a stand-alone server, for
// end-to-end tests and benchmarks. Prints "listening on 127.0.0.1:<port>" (and writes the port to
// --port-file) once it accepts connections, then serves until SIGINT or SIGTERM.

#include "providers/testing/fake_ollama.hpp"
#include "fake_server/fake_server_main.hpp"

int main(int argc, char** argv) {
    llmp::providers::testing::fake_ollama_options opts;
    CLI::App app{
        "A fake Ollama server (GET /, /api/version, /api/tags, /api/ps; POST /api/chat, /api/generate, "
        "streaming or not; GET /_fake/stats; PUT /_fake/models {\"models\": [...]}). Answers are the mock provider's "
        "deterministic text.\n"
        "Failure triggers in the prompt: [[error-mid]] [[close-mid]] [[error-before]] [[stall]] "
        "[[stall-before]]. Per request, options.mock_token_delay_ms overrides --token-delay-ms.",
        "fake_ollama"};
    llmp::testing::fake_server_flags flags{app, opts};
    CLI11_PARSE(app, argc, argv);
    flags.finish();
    return llmp::testing::serve_until_stopped<llmp::providers::testing::fake_ollama>("fake_ollama", opts,
                                                                                     flags.port_file);
}
