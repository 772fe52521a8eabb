#include "support/stream_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <thread>

namespace llmp::testing {

std::string stream_result::text() const {
    std::string out;
    for (const auto& e : events) {
        if (e.event == "token") {
            auto j = nlohmann::json::parse(e.data, nullptr, false);
            if (j.is_object() && j.contains("content") && j["content"].is_string()) {
                out += j["content"].get<std::string>();
            }
        }
    }
    return out;
}

const sse_event* stream_result::find(std::string_view event) const {
    for (const auto& e : events) {
        if (e.event == event) {
            return &e;
        }
    }
    return nullptr;
}

net::awaitable<stream_result> run_stream(const http_client::client& c, std::string target, std::string body) {
    static const std::vector<std::pair<std::string, std::string>> no_headers;
    return run_stream(c, std::move(target), std::move(body), no_headers);
}

net::awaitable<stream_result> run_stream(const http_client::client& c, std::string target, std::string body,
                                         const std::vector<std::pair<std::string, std::string>>& headers) {
    stream_result r;
    auto t0 = std::chrono::steady_clock::now();
    auto ms = [&t0] {
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    };
    auto ex = co_await net::this_coro::executor;
    auto x = c.make_exchange(net::make_strand(ex));
    http_client::outgoing_request req;
    req.method = http::verb::post;
    req.target = std::move(target);
    req.body = std::move(body);
    req.headers = headers;
    auto head = co_await x->send(req);
    if (!head) {
        r.error = head.error().message;
        co_return r;
    }
    r.status = head.value().status;
    r.content_type = head.value().content_type;
    bool sse = r.content_type.rfind("text/event-stream", 0) == 0;
    sse_parser parser;
    text_arrival text;
    for (;;) {
        auto bytes = co_await x->read_some();
        if (!bytes) {
            r.error = bytes.error().message;
            break;
        }
        if (bytes.value().empty()) {
            break;
        }
        r.body.append(bytes.value());
        if (sse) {
            auto before = r.events.size();
            parser.feed(bytes.value(), r.events);
            for (auto i = before; i < r.events.size(); ++i) {
                if (r.events[i].event == "token") {
                    const double now = ms();
                    if (r.tokens++ == 0) {
                        r.ttft_ms = now;
                    }
                    auto j = nlohmann::json::parse(r.events[i].data, nullptr, false);
                    if (j.is_object() && j.contains("content") && j["content"].is_string()) {
                        text.add(j["content"].get_ref<const std::string&>().size(), now);
                    }
                }
            }
        }
    }
    r.total_ms = ms();
    r.text_ms = text.mean_ms();
    co_return r;
}

std::vector<stream_result> run_concurrent_streams(const std::vector<stream_request>& reqs, int threads) {
    std::vector<stream_result> results(reqs.size());
    net::io_context ioc;
    std::map<unsigned, std::shared_ptr<http_client::client>> clients;
    http_client::client_options opts;
    opts.peer_name = "llmproxy";
    opts.max_idle_connections = 0;  // one connection per stream, like independent clients
    opts.idle_timeout = std::chrono::minutes{5};
    for (const auto& r : reqs) {
        if (!clients.count(r.port)) {
            clients[r.port] = http_client::client::make("http://127.0.0.1:" + std::to_string(r.port), opts).value();
        }
    }
    for (std::size_t i = 0; i < reqs.size(); ++i) {
        auto c = clients[reqs[i].port];
        net::co_spawn(
            ioc,
            [c, &results, i, &reqs]() -> net::awaitable<void> {
                results[i] = co_await run_stream(*c, reqs[i].target, reqs[i].body, reqs[i].headers);
            },
            net::detached);
    }
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) {
        pool.emplace_back([&ioc] { ioc.run(); });
    }
    ioc.run();
    for (auto& t : pool) {
        t.join();
    }
    return results;
}

std::vector<stream_result> run_concurrent_streams(unsigned port, const std::string& target,
                                                  const std::vector<std::string>& bodies, int threads) {
    std::vector<stream_request> reqs;
    for (const auto& b : bodies) {
        reqs.push_back({port, target, b});
    }
    return run_concurrent_streams(reqs, threads);
}

}  // namespace llmp::testing
