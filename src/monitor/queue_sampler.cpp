#include "monitor/queue_sampler.hpp"

#include "monitor/logger.hpp"
#include "monitor/query_string.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

namespace llmp::monitor {
namespace {

using nlohmann::json;

constexpr std::chrono::hours history_span{1};

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

double rate_of(const json& q, const char* what) {
    auto stats = q.find("message_stats");
    if (stats == q.end() || !stats->is_object()) {
        return 0;
    }
    auto d = stats->find(what);
    if (d == stats->end() || !d->is_object()) {
        return 0;
    }
    return d->value("rate", 0.0);
}

/// `text` as an Erlang regular expression that matches it literally (queue names have dots).
std::string regex_quote(const std::string& text) {
    std::string out;
    for (char c : text) {
        if (std::string_view{".^$*+?()[]{}|\\"}.find(c) != std::string_view::npos) {
            out += '\\';
        }
        out += c;
    }
    return out;
}

}  // namespace

std::string base64(std::string_view in) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                     static_cast<unsigned char>(in[i + 2]);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += alphabet[v & 63];
    }
    if (i + 1 == in.size()) {
        unsigned v = static_cast<unsigned char>(in[i]) << 16;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += "==";
    } else if (i + 2 == in.size()) {
        unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

queue_sampler::queue_sampler(net::io_context& ioc, queue_sampler_config cfg) : ioc_{ioc}, cfg_{std::move(cfg)} {
    latest_ = {{"available", false}, {"error", "not sampled yet"}, {"queues", json::array()}};
    if (cfg_.mgmt_url.empty()) {
        latest_["error"] = "no RabbitMQ management URL configured (--rabbitmq-mgmt-url)";
        return;
    }
    http_client::client_options opts;
    opts.peer_name = "the RabbitMQ management API";
    opts.connect_timeout = std::chrono::milliseconds{2000};
    opts.idle_timeout = std::chrono::milliseconds{5000};
    opts.max_idle_connections = 2;
    auto c = http_client::client::make(cfg_.mgmt_url, opts);
    if (!c) {
        latest_["error"] = c.error().message;
        return;
    }
    client_ = std::move(c.value());
    auth_header_ = "Basic " + base64(cfg_.user + ":" + cfg_.password);
}

queue_sampler::~queue_sampler() = default;

void queue_sampler::start() {
    if (!client_) {
        return;
    }
    timer_ = std::make_unique<net::steady_timer>(net::make_strand(ioc_));
    net::co_spawn(
        timer_->get_executor(), [this] { return loop(); }, net::detached);
}

void queue_sampler::stop() {
    if (!timer_) {
        return;
    }
    // On the timer's strand: the loop sees the flag when its wait is cancelled.
    net::post(timer_->get_executor(), [this, stopped = stopped_] {
        *stopped = true;
        timer_->cancel();
    });
}

net::awaitable<void> queue_sampler::loop() {
    auto stopped = stopped_;
    while (!*stopped) {
        co_await sample_once();
        if (*stopped) {
            break;
        }
        timer_->expires_after(cfg_.interval);
        boost::system::error_code ec;
        co_await timer_->async_wait(net::redirect_error(net::use_awaitable, ec));
    }
}

net::awaitable<void> queue_sampler::sample_once() {
    // Only the fetches happen in the coroutine; every JSON value is built in record() (g++ 12
    // miscompiles braced nlohmann initialisers in coroutine bodies).
    std::vector<fetched> answers;
    for (const auto& name : cfg_.queues) {
        http_client::outgoing_request req;
        req.target = "/api/queues/" + percent_encode(cfg_.vhost) + "/" + percent_encode(name);
        req.headers.emplace_back("Authorization", auth_header_);
        auto r = co_await client_->fetch(std::move(req), 1 << 20);
        fetched f;
        f.name = name;
        if (r) {
            f.status = r.value().status;
            f.body = std::move(r.value().body);
        } else {
            f.error = r.error().message;
        }
        bool failed = !r;
        answers.push_back(std::move(f));
        if (failed) {
            break;
        }
    }
    if (!cfg_.model_queue_prefix.empty() && (answers.empty() || answers.back().error.empty())) {
        http_client::outgoing_request req;
        req.target = "/api/queues/" + percent_encode(cfg_.vhost) + "?page=1&page_size=500&use_regex=true&name=" +
                     percent_encode("^" + regex_quote(cfg_.model_queue_prefix));
        req.headers.emplace_back("Authorization", auth_header_);
        auto r = co_await client_->fetch(std::move(req), 8 << 20);
        fetched f;
        f.name = cfg_.model_queue_prefix + "*";
        f.listing = true;
        if (r) {
            f.status = r.value().status;
            f.body = std::move(r.value().body);
        } else {
            f.error = r.error().message;
        }
        answers.push_back(std::move(f));
    }
    record(answers);
}

void queue_sampler::record(const std::vector<fetched>& answers) {
    json queues = json::array();
    std::string failure;
    depth_sample s;
    s.t_ms = now_ms();
    for (std::size_t i = 0; i < answers.size() && failure.empty(); ++i) {
        const auto& a = answers[i];
        if (!a.error.empty()) {
            failure = a.error;
            break;
        }
        if (a.status == 404) {
            queues.push_back({{"name", a.name},
                              {"exists", false},
                              {"messages", 0},
                              {"ready", 0},
                              {"unacked", 0},
                              {"consumers", 0},
                              {"publish_rate", 0.0},
                              {"deliver_rate", 0.0}});
            continue;
        }
        if (a.status != 200) {
            failure = "the RabbitMQ management API answered " + std::to_string(a.status) + " for " + a.name +
                      (a.status == 401 ? " (check --rabbitmq-mgmt-user/--rabbitmq-mgmt-password)" : "");
            break;
        }
        auto q = json::parse(a.body, nullptr, false);
        if (!q.is_object() || (a.listing && !q["items"].is_array())) {
            failure = "the RabbitMQ management API sent no JSON for " + a.name;
            break;
        }
        auto add = [&](const json& one, bool model_queue) {
            std::int64_t messages = one.value("messages", std::int64_t{0});
            json entry{{"name", one.value("name", a.name)},
                       {"exists", true},
                       {"messages", messages},
                       {"ready", one.value("messages_ready", std::int64_t{0})},
                       {"unacked", one.value("messages_unacknowledged", std::int64_t{0})},
                       {"consumers", one.value("consumers", std::int64_t{0})},
                       {"publish_rate", rate_of(one, "publish_details")},
                       {"deliver_rate", rate_of(one, "deliver_get_details")}};
            if (model_queue) {
                entry["model_queue"] = true;
            }
            queues.push_back(std::move(entry));
            if (i == 0 || model_queue) {
                s.work += messages;
            }
            s.total += messages;
        };
        if (a.listing) {
            for (const auto& one : q["items"]) {
                add(one, true);
            }
        } else {
            add(q, false);
        }
    }
    llmp::lock_guard lock{mu_};
    bool was_available = latest_.value("available", false);
    bool first = latest_.value("error", "") == "not sampled yet";
    if (!failure.empty()) {
        if (was_available || first) {
            logger()->warn("msg=\"RabbitMQ management API unavailable\" error=\"{}\"", failure);
        }
        latest_ = {{"available", false}, {"error", failure}, {"sampled_at_ms", s.t_ms}, {"queues", json::array()}};
        return;
    }
    if (!was_available && !first) {
        logger()->info("msg=\"RabbitMQ management API reachable again\"");
    }
    latest_ = {
        {"available", true}, {"sampled_at_ms", s.t_ms}, {"work_messages", s.work}, {"queues", std::move(queues)}};
    history_.push_back(s);
    auto horizon = s.t_ms - std::chrono::duration_cast<std::chrono::milliseconds>(history_span).count();
    while (!history_.empty() && history_.front().t_ms < horizon) {
        history_.pop_front();
    }
}

json queue_sampler::latest() const {
    llmp::lock_guard lock{mu_};
    return latest_;
}

std::vector<depth_sample> queue_sampler::history(std::int64_t since_ms) const {
    std::vector<depth_sample> out;
    llmp::lock_guard lock{mu_};
    for (const auto& s : history_) {
        if (s.t_ms > since_ms) {
            out.push_back(s);
        }
    }
    return out;
}

}  // namespace llmp::monitor
