// llmproxy-loadgen: a closed-loop load generator for streaming chat requests (issue 2, item 9).
//
// N virtual clients each run one streaming POST /api/chat at a time and start the next as soon
// as the previous one ends, until R requests are done (after W warm-up requests that are not
// measured). Two targets speak two wire formats:
//   --target llmproxy   the llmproxy API server: SSE (event: start / token* / done)
//   --target ollama     an Ollama server (the fake one for the floor), or llmproxy's Ollama front
//                       door (--path /ollama/api/chat): NDJSON lines
//   --target openai     llmproxy's OpenAI front door (--path /v1/chat/completions): SSE chunks
//                       (`data:` only) ending with `data: [DONE]`, usage in the last chunk
// Every stream must end properly (an SSE `done` event, an NDJSON `done:true` line, `[DONE]`
// after a chunk with usage) with a 200;
// anything else counts as an error, with a few messages kept for the report.
//
// Open loop (--rate R): requests arrive at R per second, Poisson (exponential gaps from a fixed
// seed, so two runs see the same arrivals), whatever the answers' pace: a closed loop's clients
// start together and, their answers taking alike, come back in waves; real clients do not march
// in step. --concurrency then caps the streams in flight; an arrival that finds the cap reached
// waits for a slot and is counted (arrivals_held: the run was not open for those).
//
// Threads: the virtual clients are coroutines on one io_context run by --threads threads; each
// request gets its own strand (see stream_client.hpp and http/client.hpp). Results are written
// to a per-request slot, so nothing is shared between coroutines except an atomic counter.
//
// Interleaved arms (--arm NAME=URL, repeatable, with --arm-header NAME="Name: value"): request i
// goes to arm i mod k, so the arms share every second of the run and drift on a busy machine
// falls on all of them alike. The report then has one block per arm, and for every arm after the
// first the TTFT differences to the first arm paired within each cycle of k consecutive requests
// (at concurrency 1: requests sent back to back), as their median and quartiles.
//
// Measured per request: TTFT (send until the first non-empty token), total time (send until
// the end of the body), the text time (the mean arrival time of the answer's bytes: what a
// proxy holding tokens to send them together costs the reader) and the number of tokens (for
// SSE the done event's completion_tokens: the worker may coalesce several tokens into one token
// event under load). Reported: requests/s and tokens/s over the wall time of the measured
// phase, TTFT, total-time and text-time percentiles, errors, the generator's own CPU time (it
// shares the machine with what it measures).

#include "http/client.hpp"
#include "http/ndjson_splitter.hpp"
#include "providers/ollama/ollama_wire.hpp"
#include "support/sse_parser.hpp"
#include "support/stream_client.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <nlohmann/json.hpp>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace llmp;
using steady_clock = std::chrono::steady_clock;

struct options {
    std::string target = "llmproxy";  ///< llmproxy (SSE), ollama (NDJSON) or openai (OpenAI's SSE)
    std::string url;                  ///< http://127.0.0.1:PORT
    std::string path = "/api/chat";
    std::string model = "llama3.2:latest";
    int concurrency = 16;    ///< virtual clients (streams in flight)
    int requests = 1000;     ///< measured requests
    int warmup = 0;          ///< unmeasured requests run first, at the same concurrency
    int tokens = 64;         ///< options.num_predict
    int threads = 1;         ///< client I/O threads
    bool keep_alive = true;  ///< reuse connections between a client's requests
    int timeout_ms = 30000;  ///< longest silence within one response
    double rate = 0;         ///< open loop: arrivals per second (0: closed loop, --concurrency clients)
    bool json = false;
    std::vector<std::pair<std::string, std::string>> headers;  ///< --header "Name: value", on every request
};

/// One target of an interleaved run (--arm): request i goes to arm i mod k.
struct arm {
    std::string name;
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers;  ///< --header lines, then its --arm-header lines
    std::shared_ptr<http_client::client> client;
};

struct sample {
    bool ok = false;
    std::string error;  ///< why it is not ok
    double ttft_ms = -1;
    double total_ms = 0;
    std::size_t tokens = 0;  ///< generated tokens: the done event's count (SSE), eval_count (NDJSON), usage (OpenAI)
    std::size_t chunks = 0;  ///< token events (SSE: the worker coalesces tokens under load) or lines
    double text_ms = -1;     ///< mean arrival time of the answer's bytes (testing::stream_result::text_ms)
    testing::text_arrival text;  ///< the NDJSON and OpenAI readers' tally of it

    void add_text(std::size_t bytes, double now_ms) {
        text.add(bytes, now_ms);
        text_ms = text.mean_ms();
    }
};

std::string request_body(const options& o, int index) {
    nlohmann::json body;
    body["model"] = o.model;
    nlohmann::json msg;
    msg["role"] = "user";
    msg["content"] = "benchmark request " + std::to_string(index) + ": tell me a story";
    body["messages"] = nlohmann::json::array({msg});
    body["stream"] = true;
    if (o.target == "openai") {
        body["max_tokens"] = o.tokens;
        body["stream_options"]["include_usage"] = true;
    } else {
        body["options"]["num_predict"] = o.tokens;
    }
    return body.dump();
}

std::string shorten(std::string s, std::size_t n = 200) {
    if (s.size() > n) {
        s.resize(n);
        s += "...";
    }
    return s;
}

/// The SSE target: the shared stream client, then the end-of-stream check.
sample judge_sse(const testing::stream_result& r) {
    sample s;
    s.ttft_ms = r.ttft_ms;
    s.total_ms = r.total_ms;
    s.chunks = r.tokens;
    s.text_ms = r.text_ms;
    if (!r.error.empty()) {
        s.error = "transport: " + r.error;
    } else if (r.status != 200) {
        s.error = "HTTP " + std::to_string(r.status) + ": " + shorten(r.body);
    } else if (r.events.empty()) {
        s.error = "empty event stream";
    } else if (r.events.back().event == "error") {
        s.error = "event: error " + shorten(r.events.back().data);
    } else if (r.events.back().event != "done") {
        s.error = "stream ended without a done event (last: " + r.events.back().event + ")";
    } else {
        auto done = nlohmann::json::parse(r.events.back().data, nullptr, false);
        auto n = done.is_object() ? done.find("completion_tokens") : done.end();
        if (done.is_object() && n != done.end() && n->is_number_unsigned()) {
            s.tokens = n->get<std::size_t>();
            s.ok = true;
        } else {
            s.error = "done event without completion_tokens: " + shorten(r.events.back().data);
        }
    }
    return s;
}

net::awaitable<sample> run_sse(const http_client::client& c, std::string target, std::string body,
                               const std::vector<std::pair<std::string, std::string>>& headers) {
    auto r = co_await testing::run_stream(c, std::move(target), std::move(body), headers);
    co_return judge_sse(r);
}

/// A streaming POST whose 200 body is read by `Reader` (one per wire format):
///   void feed(std::string_view bytes, sample& s, double now_ms)  // sets s.ttft_ms, tokens, chunks
///   std::string verdict(const sample& s) const  // after the body: "" when it ended properly, else why
/// Transport errors, non-200 replies (with their body) and the timings are handled here.
template <class Reader>
net::awaitable<sample> run_streamed(const http_client::client& c, std::string target, std::string body,
                                    const std::vector<std::pair<std::string, std::string>>& headers,
                                    std::chrono::milliseconds timeout, Reader& reader) {
    sample s;
    const auto t0 = steady_clock::now();
    auto ms = [&t0] { return std::chrono::duration<double, std::milli>(steady_clock::now() - t0).count(); };
    auto ex = co_await net::this_coro::executor;
    auto x = c.make_exchange(net::make_strand(ex));
    http_client::outgoing_request req;
    req.method = http::verb::post;
    req.target = std::move(target);
    req.body = std::move(body);
    req.headers = headers;
    auto head = co_await x->send(req);
    if (!head) {
        s.error = "transport: " + head.error().message;
        s.total_ms = ms();
        co_return s;
    }
    const unsigned status = head.value().status;
    std::string error_body;
    for (;;) {
        auto bytes = co_await x->read_some(timeout);
        if (!bytes) {
            s.error = "transport: " + bytes.error().message;
            break;
        }
        if (bytes.value().empty()) {
            break;
        }
        if (status != 200) {
            error_body.append(bytes.value());
            continue;
        }
        reader.feed(bytes.value(), s, ms());
    }
    s.total_ms = ms();
    if (!s.error.empty()) {
        co_return s;
    }
    if (status != 200) {
        s.error = "HTTP " + std::to_string(status) + ": " + shorten(error_body);
    } else if (auto why = reader.verdict(s); !why.empty()) {
        s.error = shorten(why);
    } else {
        s.ok = true;
    }
    co_return s;
}

/// The NDJSON target: Ollama's native streaming format, parsed as the ollama provider does.
/// The tokens are the done line's eval_count (llmproxy's Ollama front door may put several
/// tokens on a line), else the content lines.
struct ndjson_reader {
    http_client::ndjson_splitter splitter;
    providers::ollama::stream_parser parser;
    bool done = false;
    std::string error;

    void feed(std::string_view bytes, sample& s, double now_ms) {
        auto fed = splitter.feed(bytes, [&](std::string_view line) {
            if (line.empty() || !error.empty()) {
                return;
            }
            if (done) {
                error = "data after the done:true line";
                return;
            }
            auto parsed = parser.parse(line);
            if (!parsed) {
                error = parsed.error().message;
                return;
            }
            const auto& l = parsed.value();
            if (l.has_error) {
                error = "error line: " + std::string{l.error};
                return;
            }
            if (!l.delta.empty()) {
                s.add_text(l.delta.size(), now_ms);
                if (s.tokens++ == 0) {
                    s.ttft_ms = now_ms;
                }
            }
            s.chunks = s.tokens;
            done = l.done;
            if (l.done && l.eval_count) {
                s.tokens = static_cast<std::size_t>(std::max<std::int64_t>(*l.eval_count, 0));
            }
        });
        if (!fed && error.empty()) {
            error = fed.error().message;
        }
    }
    std::string verdict(const sample& /*s*/) const {
        if (!error.empty()) {
            return error;
        }
        if (splitter.has_partial()) {
            return "body ended inside a line";
        }
        return done ? "" : "stream ended without a done:true line";
    }
};

/// The OpenAI target: chat.completion.chunk objects in `data:` events, then `data: [DONE]`.
/// TTFT is the first chunk with delta content; the tokens are the usage chunk's
/// completion_tokens (stream_options.include_usage is sent).
struct openai_reader {
    testing::sse_parser parser;
    std::vector<testing::sse_event> events;
    bool done = false;
    std::string error;

    void feed(std::string_view bytes, sample& s, double now_ms) {
        events.clear();
        parser.feed(bytes, events);
        for (const auto& e : events) {
            if (!error.empty()) {
                return;
            }
            if (done) {
                error = "data after [DONE]";
            } else if (e.data == "[DONE]") {
                done = true;
            } else if (auto j = nlohmann::json::parse(e.data, nullptr, false); !j.is_object()) {
                error = "not a JSON chunk: " + e.data;
            } else if (j.contains("error")) {
                error = "error chunk: " + e.data;
            } else {
                const auto& choices = j.value("choices", nlohmann::json::array());
                if (!choices.empty() && choices[0].contains("delta")) {
                    const auto& delta = choices[0]["delta"];
                    if (delta.contains("content") && delta["content"].is_string() &&
                        !delta["content"].get_ref<const std::string&>().empty()) {
                        s.add_text(delta["content"].get_ref<const std::string&>().size(), now_ms);
                        if (s.chunks++ == 0) {
                            s.ttft_ms = now_ms;
                        }
                    }
                }
                if (j.contains("usage") && j["usage"].is_object()) {
                    s.tokens = j["usage"].value("completion_tokens", std::size_t{0});
                }
            }
        }
    }
    std::string verdict(const sample& s) const {
        if (!error.empty()) {
            return error;
        }
        if (!done) {
            return "stream ended without data: [DONE]";
        }
        return s.tokens > 0 ? "" : "no usage chunk with completion_tokens";
    }
};

struct phase_result {
    std::vector<sample> samples;
    std::size_t held = 0;  ///< open loop: arrivals that waited for a slot under --concurrency
    double wall_s = 0;
    double cpu_s = 0;  ///< this process's user+system CPU time during the phase
};

double process_cpu_s() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
    return tv(ru.ru_utime) + tv(ru.ru_stime);
}

/// Runs `count` requests (numbered from `first`) with `o.concurrency` virtual clients; the
/// phase's i-th request goes to arm i mod k.
phase_result run_phase(const options& o, const std::vector<arm>& arms, int first, int count) {
    phase_result out;
    out.samples.resize(static_cast<std::size_t>(count));
    if (count == 0) {
        return out;
    }
    std::vector<std::string> bodies;
    bodies.reserve(out.samples.size());
    for (int i = 0; i < count; ++i) {
        bodies.push_back(request_body(o, first + i));
    }
    const bool sse = o.target == "llmproxy";
    const std::chrono::milliseconds timeout{o.timeout_ms};
    std::atomic<int> next{0};
    net::io_context ioc{o.threads};
    auto run_one = [&](std::size_t idx) -> net::awaitable<void> {
        const arm& a = arms[idx % arms.size()];
        if (sse) {
            out.samples[idx] = co_await run_sse(*a.client, o.path, std::move(bodies[idx]), a.headers);
        } else if (o.target == "openai") {
            openai_reader reader;
            out.samples[idx] =
                co_await run_streamed(*a.client, o.path, std::move(bodies[idx]), a.headers, timeout, reader);
        } else {
            ndjson_reader reader;
            out.samples[idx] =
                co_await run_streamed(*a.client, o.path, std::move(bodies[idx]), a.headers, timeout, reader);
        }
    };
    auto virtual_client = [&]() -> net::awaitable<void> {
        for (;;) {
            const int i = next.fetch_add(1);
            if (i >= count) {
                co_return;
            }
            co_await run_one(static_cast<std::size_t>(i));
        }
    };
    std::atomic<int> in_flight{0};
    auto arrivals = [&]() -> net::awaitable<void> {
        std::mt19937_64 rng{static_cast<std::uint64_t>(first) + 1};
        std::exponential_distribution<double> gap{o.rate};
        net::steady_timer timer{ioc};
        auto at = steady_clock::now();
        for (int i = 0; i < count; ++i) {
            at += std::chrono::duration_cast<steady_clock::duration>(std::chrono::duration<double>(gap(rng)));
            timer.expires_at(at);
            boost::system::error_code ec;
            co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
            if (in_flight.load() >= o.concurrency) {
                ++out.held;
                while (in_flight.load() >= o.concurrency) {  // a bench's cap: polled, 1 ms
                    timer.expires_after(std::chrono::milliseconds{1});
                    co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
                }
            }
            ++in_flight;
            net::co_spawn(
                ioc,
                [&, idx = static_cast<std::size_t>(i)]() -> net::awaitable<void> {
                    co_await run_one(idx);
                    --in_flight;
                },
                net::detached);
        }
    };
    const auto cpu0 = process_cpu_s();
    const auto t0 = steady_clock::now();
    if (o.rate > 0) {
        net::co_spawn(ioc, arrivals, net::detached);
    } else {
        for (int v = 0; v < std::min(o.concurrency, count); ++v) {
            net::co_spawn(ioc, virtual_client, net::detached);
        }
    }
    std::vector<std::thread> pool;
    for (int t = 1; t < o.threads; ++t) {
        pool.emplace_back([&ioc] { ioc.run(); });
    }
    ioc.run();
    for (auto& t : pool) {
        t.join();
    }
    out.wall_s = std::chrono::duration<double>(steady_clock::now() - t0).count();
    out.cpu_s = process_cpu_s() - cpu0;
    return out;
}

/// Nearest-rank percentile of sorted values (0 when empty).
double percentile(const std::vector<double>& sorted, double p) {
    if (sorted.empty()) {
        return 0;
    }
    auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
    rank = std::clamp<std::size_t>(rank, 1, sorted.size());
    return sorted[rank - 1];
}

nlohmann::json distribution(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    double sum = 0;
    for (double x : v) {
        sum += x;
    }
    nlohmann::json j;
    j["p50"] = percentile(v, 50);
    j["p90"] = percentile(v, 90);
    j["p99"] = percentile(v, 99);
    j["max"] = v.empty() ? 0.0 : v.back();
    j["mean"] = v.empty() ? 0.0 : sum / static_cast<double>(v.size());
    return j;
}

/// The report of the samples in `ph` whose index i has i mod `stride` == `offset` (all of them
/// with the defaults); throughput over the phase's whole wall time.
nlohmann::json report(const options& o, const phase_result& ph, std::size_t stride = 1, std::size_t offset = 0) {
    std::vector<double> ttft;
    std::vector<double> total;
    std::vector<double> text;
    std::size_t ok = 0;
    std::size_t tokens = 0;
    std::size_t chunks = 0;
    std::size_t short_streams = 0;
    std::map<std::string, std::size_t> errors;
    std::size_t counted = 0;
    for (std::size_t i = offset; i < ph.samples.size(); i += stride) {
        const auto& s = ph.samples[i];
        ++counted;
        if (!s.ok) {
            ++errors[s.error];
            continue;
        }
        ++ok;
        tokens += s.tokens;
        chunks += s.chunks;
        if (s.tokens != static_cast<std::size_t>(o.tokens)) {
            ++short_streams;
        }
        if (s.ttft_ms >= 0) {
            ttft.push_back(s.ttft_ms);
        }
        total.push_back(s.total_ms);
        if (s.text_ms >= 0) {
            text.push_back(s.text_ms);
        }
    }
    nlohmann::json j;
    j["target"] = o.target;
    j["url"] = o.url;
    j["model"] = o.model;
    j["concurrency"] = o.concurrency;
    j["rate"] = o.rate;  // 0: closed loop
    j["arrivals_held"] = ph.held;
    // This arm's share: the phases give request i to arm i mod stride.
    j["requests"] = counted;
    j["warmup"] = (static_cast<std::size_t>(o.warmup) + stride - 1 - offset) / stride;
    j["tokens_per_request"] = o.tokens;
    j["ok"] = ok;
    j["errors"] = counted - ok;
    j["token_count_mismatches"] = short_streams;
    nlohmann::json kinds = nlohmann::json::array();
    for (const auto& [what, n] : errors) {
        nlohmann::json e;
        e["count"] = n;
        e["error"] = what;
        kinds.push_back(e);
        if (kinds.size() == 5) {
            break;
        }
    }
    j["error_kinds"] = kinds;
    j["wall_s"] = ph.wall_s;
    j["requests_per_s"] = ph.wall_s > 0 ? static_cast<double>(ok) / ph.wall_s : 0.0;
    j["tokens_per_s"] = ph.wall_s > 0 ? static_cast<double>(tokens) / ph.wall_s : 0.0;
    j["tokens"] = tokens;
    j["chunks"] = chunks;
    j["tokens_per_chunk"] = chunks > 0 ? static_cast<double>(tokens) / static_cast<double>(chunks) : 0.0;
    j["ttft_ms"] = distribution(std::move(ttft));
    j["total_ms"] = distribution(std::move(total));
    j["text_ms"] = distribution(std::move(text));
    j["client_cpu_s"] = ph.cpu_s;
    return j;
}

/// Median and quartiles of (TTFT of arm `a`) − (TTFT of arm 0) over the cycles of k consecutive
/// requests in which both are ok, in microseconds.
nlohmann::json paired_ttft_us(const phase_result& ph, std::size_t k, std::size_t a) {
    std::vector<double> d;
    for (std::size_t base = 0; base + k <= ph.samples.size(); base += k) {
        const auto& x = ph.samples[base + a];
        const auto& n = ph.samples[base];
        if (x.ok && n.ok && x.ttft_ms >= 0 && n.ttft_ms >= 0) {
            d.push_back(1000.0 * (x.ttft_ms - n.ttft_ms));
        }
    }
    std::sort(d.begin(), d.end());
    nlohmann::json j;
    j["pairs"] = d.size();
    j["p25"] = percentile(d, 25);
    j["median"] = percentile(d, 50);
    j["p75"] = percentile(d, 75);
    return j;
}

void print_text(const nlohmann::json& j) {
    auto d = [](const nlohmann::json& x, const char* k) { return x[k].get<double>(); };
    std::printf("target      %s %s  model %s\n", j["target"].get<std::string>().c_str(),
                j["url"].get<std::string>().c_str(), j["model"].get<std::string>().c_str());
    std::printf("load        concurrency %d, %d requests (+%d warm-up), %d tokens each\n", j["concurrency"].get<int>(),
                j["requests"].get<int>(), j["warmup"].get<int>(), j["tokens_per_request"].get<int>());
    if (j["rate"].get<double>() > 0) {
        std::printf("arrivals    open loop at %.1f/s (Poisson), %zu held by the concurrency cap\n",
                    j["rate"].get<double>(), j["arrivals_held"].get<std::size_t>());
    }
    std::printf(
        "result      %zu ok, %zu errors, %zu token-count mismatches in %.2f s "
        "(client CPU %.2f s)\n",
        j["ok"].get<std::size_t>(), j["errors"].get<std::size_t>(), j["token_count_mismatches"].get<std::size_t>(),
        d(j, "wall_s"), d(j, "client_cpu_s"));
    std::printf("throughput  %.1f req/s, %.0f tokens/s (%.2f tokens per streamed chunk)\n", d(j, "requests_per_s"),
                d(j, "tokens_per_s"), d(j, "tokens_per_chunk"));
    const auto& t = j["ttft_ms"];
    std::printf("ttft ms     p50 %.2f  p90 %.2f  p99 %.2f  max %.2f  mean %.2f\n", d(t, "p50"), d(t, "p90"),
                d(t, "p99"), d(t, "max"), d(t, "mean"));
    const auto& l = j["total_ms"];
    std::printf("total ms    p50 %.2f  p90 %.2f  p99 %.2f  max %.2f  mean %.2f\n", d(l, "p50"), d(l, "p90"),
                d(l, "p99"), d(l, "max"), d(l, "mean"));
    const auto& x = j["text_ms"];
    std::printf("text ms     p50 %.2f  p90 %.2f  p99 %.2f  max %.2f  mean %.2f\n", d(x, "p50"), d(x, "p90"),
                d(x, "p99"), d(x, "max"), d(x, "mean"));
    for (const auto& e : j["error_kinds"]) {
        std::printf("error       %zux %s\n", e["count"].get<std::size_t>(), e["error"].get<std::string>().c_str());
    }
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    CLI::App app{"llmproxy-loadgen: closed-loop streaming load against llmproxy (SSE) or Ollama (NDJSON)"};
    app.add_option("--target", o.target,
                   "llmproxy (its SSE), ollama (NDJSON: the fake Ollama, the floor, or --path /ollama/api/chat) or "
                   "openai (--path /v1/chat/completions)")
        ->check(CLI::IsMember({"llmproxy", "ollama", "openai"}))
        ->capture_default_str();
    auto* url_opt = app.add_option("--url", o.url, "base URL, http://127.0.0.1:PORT");
    std::vector<std::string> arm_lines;
    auto* arm_opt = app.add_option("--arm", arm_lines,
                                   "NAME=URL, repeatable: requests alternate between the arms one by one "
                                   "(instead of --url); TTFT differences to the first arm are paired")
                        ->check([](const std::string& a) {
                            return a.find('=') == std::string::npos ? std::string{"expected NAME=URL"} : std::string{};
                        });
    url_opt->excludes(arm_opt);
    std::vector<std::string> arm_header_lines;
    app.add_option("--arm-header", arm_header_lines, "NAME=\"Header: value\", sent on that arm's requests only")
        ->check([](const std::string& a) {
            auto eq = a.find('=');
            return eq == std::string::npos || a.find(':', eq) == std::string::npos
                       ? std::string{"expected NAME=\"Name: value\""}
                       : std::string{};
        });
    app.add_option("--path", o.path, "request path")->capture_default_str();
    app.add_option("--model", o.model, "model name")->capture_default_str();
    app.add_option("-c,--concurrency", o.concurrency, "virtual clients, each with one stream in flight")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    app.add_option("--rate", o.rate,
                   "open loop: requests arrive at this many per second (Poisson), --concurrency caps the "
                   "streams in flight (0: closed loop, --concurrency clients back to back)")
        ->check(CLI::Range(0.0, 1e6))
        ->capture_default_str();
    app.add_option("-n,--requests", o.requests, "measured requests")
        ->check(CLI::Range(1, 100000000))
        ->capture_default_str();
    app.add_option("--warmup", o.warmup, "unmeasured requests first")
        ->check(CLI::Range(0, 100000000))
        ->capture_default_str();
    app.add_option("--tokens", o.tokens, "tokens per answer (options.num_predict)")
        ->check(CLI::Range(1, 1000000))
        ->capture_default_str();
    app.add_option("--threads", o.threads, "client I/O threads")->check(CLI::Range(1, 64))->capture_default_str();
    app.add_option("--timeout-ms", o.timeout_ms, "longest silence within a response before it counts as an error")
        ->check(CLI::Range(1, 3600000))
        ->capture_default_str();
    bool no_keep_alive = false;
    app.add_flag("--no-keep-alive", no_keep_alive, "a new connection for every request");
    app.add_flag("--json", o.json, "print one JSON object instead of text");
    std::vector<std::string> header_lines;
    app.add_option("-H,--header", header_lines, "\"Name: value\" sent on every request (e.g. Authorization)")
        ->check([](const std::string& h) {
            return h.find(':') == std::string::npos ? std::string{"expected \"Name: value\""} : std::string{};
        });
    CLI11_PARSE(app, argc, argv);
    auto split_header = [](const std::string& h) {
        auto colon = h.find(':');
        auto value = h.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        return std::pair{h.substr(0, colon), value};
    };
    for (const auto& h : header_lines) {
        o.headers.push_back(split_header(h));
    }
    o.keep_alive = !no_keep_alive;
    std::vector<arm> arms;
    if (arm_lines.empty()) {
        if (o.url.empty()) {
            std::fprintf(stderr, "llmproxy-loadgen: --url or --arm is required\n");
            return 2;
        }
        arms.push_back(arm{"", o.url, o.headers, nullptr});
    }
    for (const auto& a : arm_lines) {
        auto eq = a.find('=');
        arms.push_back(arm{a.substr(0, eq), a.substr(eq + 1), o.headers, nullptr});
    }
    for (const auto& h : arm_header_lines) {
        auto eq = h.find('=');
        auto it = std::find_if(arms.begin(), arms.end(), [&](const arm& a) { return a.name == h.substr(0, eq); });
        if (it == arms.end()) {
            std::fprintf(stderr, "llmproxy-loadgen: --arm-header names no --arm: %s\n", h.c_str());
            return 2;
        }
        it->headers.push_back(split_header(h.substr(eq + 1)));
    }

    http_client::client_options copts;
    copts.peer_name = o.target;
    copts.max_idle_connections = o.keep_alive ? o.concurrency : 0;
    copts.idle_timeout = std::chrono::milliseconds{o.timeout_ms};
    copts.max_idle_age = std::chrono::minutes{10};
    for (auto& a : arms) {
        auto client = http_client::client::make(a.url, copts);
        if (!client) {
            std::fprintf(stderr, "llmproxy-loadgen: %s: %s\n", a.url.c_str(), client.error().message.c_str());
            return 2;
        }
        a.client = client.value();
    }

    if (o.warmup > 0) {
        auto w = run_phase(o, arms, 0, o.warmup);
        std::size_t bad = 0;
        for (const auto& s : w.samples) {
            bad += s.ok ? 0 : 1;
        }
        if (bad > 0 && !o.json) {
            std::fprintf(stderr, "llmproxy-loadgen: %zu of %d warm-up requests failed\n", bad, o.warmup);
        }
    }
    auto measured = run_phase(o, arms, o.warmup, o.requests);
    if (arms.size() == 1) {
        auto j = report(o, measured);
        if (o.json) {
            std::cout << j.dump() << std::endl;
        } else {
            print_text(j);
        }
        return j["errors"].get<std::size_t>() == 0 ? 0 : 1;
    }
    // Interleaved: one report per arm (the URL its own), the paired TTFT differences to arm 0.
    nlohmann::json all;
    std::size_t errors = 0;
    for (std::size_t a = 0; a < arms.size(); ++a) {
        auto j = report(o, measured, arms.size(), a);
        j["url"] = arms[a].url;
        errors += j["errors"].get<std::size_t>();
        if (a > 0) {
            j["paired_ttft_us_vs_first"] = paired_ttft_us(measured, arms.size(), a);
        }
        all["arms"][arms[a].name] = j;
        all["order"].push_back(arms[a].name);
    }
    if (o.json) {
        std::cout << all.dump() << std::endl;
    } else {
        for (const auto& name : all["order"]) {
            const auto& j = all["arms"][name.get<std::string>()];
            std::printf("== arm %s (every %zu-th request)\n", name.get<std::string>().c_str(), arms.size());
            print_text(j);
            if (j.contains("paired_ttft_us_vs_first")) {
                const auto& p = j["paired_ttft_us_vs_first"];
                std::printf(
                    "vs %s      TTFT difference us, paired in %zu cycles: median %+.1f  (p25 %+.1f, p75 %+.1f)\n",
                    all["order"][0].get<std::string>().c_str(), p["pairs"].get<std::size_t>(),
                    p["median"].get<double>(), p["p25"].get<double>(), p["p75"].get<double>());
            }
        }
    }
    return errors == 0 ? 0 : 1;
}
