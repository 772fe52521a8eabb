// fake_openai: the in-process fake OpenAI-compatible server (fake_openai.hpp) as a stand-alone
// server, for end-to-end tests. Prints "listening on 127.0.0.1:<port>" (and writes the port to
// --port-file) once it accepts connections, then serves until SIGINT or SIGTERM.

#include "providers/testing/fake_openai.hpp"
#include "fake_server/fake_server_main.hpp"

int main(int argc, char** argv) {
    llmp::providers::testing::fake_openai_options opts;
    CLI::App app{
        "A fake OpenAI-compatible server (GET /v1/models; POST /v1/chat/completions, /v1/completions, "
        "streaming or not; GET /_fake/stats; PUT /_fake/models {\"models\": [...]}). Answers are the mock provider's "
        "deterministic text.\n"
        "Failure triggers in the prompt: [[error-mid]] [[429]] [[error-before]] [[close-mid]] [[stall]].",
        "fake_openai"};
    llmp::testing::fake_server_flags flags{app, opts};
    app.add_option("--api-key", opts.api_key, "require \"Authorization: Bearer KEY\"")->envname("FAKE_OPENAI_API_KEY");
    bool no_stream_usage = false;
    app.add_flag("--no-stream-usage", no_stream_usage, "ignore stream_options.include_usage (like some servers)");
    CLI11_PARSE(app, argc, argv);
    flags.finish();
    opts.stream_usage = !no_stream_usage;
    return llmp::testing::serve_until_stopped<llmp::providers::testing::fake_openai>("fake_openai", opts,
                                                                                     flags.port_file);
}
