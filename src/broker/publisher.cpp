#include "broker/publisher.hpp"

#include "broker/connection.hpp"
#include "broker/logger.hpp"
#include "broker/reconnect.hpp"

#include <poll.h>

#include <map>
#include <unordered_map>

namespace llmp::broker {

/// Jobs written to the socket and not yet confirmed, by delivery tag (publisher thread only).
struct publisher::pending {
    std::map<std::uint64_t, std::function<void(publish_status)>> by_tag;
};

publisher::publisher(broker_config cfg, std::string name, setup_fn setup, return_fn on_return, state_fn on_state,
                     std::size_t capacity)
    : cfg_{std::move(cfg)},
      name_{std::move(name)},
      setup_{std::move(setup)},
      on_return_{std::move(on_return)},
      on_state_{std::move(on_state)},
      queue_{capacity},
      pending_{std::make_unique<pending>()} {}

publisher::~publisher() {
    stop();
}

result<void> publisher::start() {
    auto conn = connection::open(cfg_, name_);
    if (!conn) {
        return conn.error();
    }
    if (auto c = conn.value()->enable_confirms(); !c) {
        return c;
    }
    if (setup_) {
        if (auto s = setup_(*conn.value()); !s) {
            return s;
        }
    }
    initial_ = std::move(conn.value());
    connected_ = true;
    thread_ = std::thread{[this] { run(); }};
    return ok();
}

void publisher::stop(std::chrono::milliseconds drain) {
    if (!thread_.joinable()) {
        return;
    }
    drain_ = drain;
    stopping_ = true;
    queue_.push_unbounded(publish_job{});  // wakes the thread
    thread_.join();
}

bool publisher::try_publish(publish_job&& job) {
    if (stopping_.load(std::memory_order_relaxed)) {
        return false;
    }
    return queue_.try_push(std::move(job));
}

void publisher::fail_all(publish_status why) {
    auto& p = *pending_;
    for (auto& [tag, done] : p.by_tag) {
        done(why);
    }
    p.by_tag.clear();
}

void publisher::run() {
    std::unique_ptr<connection> conn = std::move(initial_);
    auto backoff = cfg_.reconnect_min;
    std::vector<publish_job> rejected;
    while (!stopping_) {
        if (!conn) {
            // Not connected: refuse what arrives (the caller answers 503), retry with backoff.
            pollfd pfd{queue_.fd(), POLLIN, 0};
            ::poll(&pfd, 1, static_cast<int>(backoff.count()));
            rejected.clear();
            queue_.drain(rejected);
            for (auto& j : rejected) {
                if (j.done) {
                    j.done(publish_status::broker_unavailable);
                }
            }
            if (stopping_) {
                break;
            }
            conn = reconnect_once(cfg_, "publisher", name_, [this](connection& c) {
                auto confirms = c.enable_confirms();
                return confirms && setup_ ? setup_(c) : confirms;
            });
            if (!conn) {
                backoff = std::min(backoff * 2, cfg_.reconnect_max);
                continue;
            }
            connected_ = true;
            backoff = cfg_.reconnect_min;
            if (on_state_) {
                on_state_(true);
            }
            continue;
        }
        serve(*conn);
        if (!stopping_) {
            // serve() returns early only when the connection broke.
            connected_ = false;
            conn.reset();
            fail_all(publish_status::broker_unavailable);
            if (on_state_) {
                on_state_(false);
            }
        }
    }
    rejected.clear();
    queue_.drain(rejected);
    for (auto& j : rejected) {
        if (j.done) {
            j.done(publish_status::broker_unavailable);
        }
    }
    fail_all(publish_status::broker_unavailable);
    connected_ = false;
}

void publisher::serve(connection& conn) {
    auto log = broker::logger();
    auto& p = *pending_;
    std::vector<publish_job> batch;
    std::unordered_map<std::string, std::size_t> open_chunk;  // correlation id -> index in batch
    std::chrono::steady_clock::time_point stop_deadline{};

    auto handle_events = [&]() -> bool {
        // Read everything that has arrived; false when the connection broke.
        for (;;) {
            auto ev = conn.next_event(std::chrono::milliseconds{0});
            if (!ev) {
                log->warn("msg=\"publisher connection lost\" publisher={} error=\"{}\"", name_, ev.error().message);
                return false;
            }
            auto& e = ev.value();
            if (std::holds_alternative<std::monostate>(e)) {
                return true;
            }
            if (auto* c = std::get_if<confirm>(&e)) {
                auto status = c->ack ? publish_status::confirmed : publish_status::nacked;
                auto end = c->multiple ? p.by_tag.upper_bound(c->delivery_tag) : p.by_tag.find(c->delivery_tag);
                auto begin = c->multiple ? p.by_tag.begin() : end;
                if (!c->multiple && end != p.by_tag.end()) {
                    end->second(status);
                    p.by_tag.erase(end);
                } else if (c->multiple) {
                    for (auto it = begin; it != end; ++it) {
                        it->second(status);
                    }
                    p.by_tag.erase(begin, end);
                }
            } else if (auto* r = std::get_if<returned_message>(&e)) {
                if (on_return_) {
                    on_return_(std::move(*r));
                }
            }
            // Deliveries do not happen on a publishing connection.
        }
    };

    for (;;) {
        if (stopping_ && stop_deadline == std::chrono::steady_clock::time_point{}) {
            stop_deadline = std::chrono::steady_clock::now() + drain_;
        }
        if (stopping_ && (p.by_tag.empty() || std::chrono::steady_clock::now() >= stop_deadline) &&
            queue_.size() == 0) {
            return;
        }
        pollfd fds[2] = {{conn.fd(), POLLIN, 0}, {queue_.fd(), POLLIN, 0}};
        int timeout_ms = conn.has_buffered_input() ? 0 : (stopping_ ? 50 : 1000);
        int n = ::poll(fds, 2, timeout_ms);
        if (n < 0 && errno != EINTR) {
            return;
        }
        if (fds[1].revents & POLLIN) {
            batch.clear();
            open_chunk.clear();
            queue_.drain(batch);
            // Merge adjacent-in-queue chunks of one stream (see header).
            std::vector<publish_job*> out;
            out.reserve(batch.size());
            for (auto& j : batch) {
                if (j.msg.exchange.empty() && j.msg.routing_key.empty()) {
                    continue;  // stop sentinel
                }
                const std::string& key = j.msg.props.correlation_id;
                if (j.coalesce && !key.empty()) {
                    auto it = open_chunk.find(key);
                    if (it != open_chunk.end() && batch[it->second].msg.routing_key == j.msg.routing_key) {
                        auto& into = batch[it->second];
                        into.msg.body += j.msg.body;
                        into.msg.props.headers = std::move(j.msg.props.headers);
                        continue;
                    }
                    open_chunk[key] = static_cast<std::size_t>(&j - batch.data());
                } else if (!key.empty()) {
                    open_chunk.erase(key);  // never merge a chunk past a final/error
                }
                out.push_back(&j);
            }
            for (auto* j : out) {
                auto tag = conn.publish(j->msg);
                if (!tag) {
                    log->warn("msg=\"publish failed\" publisher={} error=\"{}\"", name_, tag.error().message);
                    if (j->done) {
                        j->done(publish_status::broker_unavailable);
                    }
                    // Fail the jobs not yet written.
                    bool after = false;
                    for (auto* k : out) {
                        if (k == j) {
                            after = true;
                            continue;
                        }
                        if (after && k->done) {
                            k->done(publish_status::broker_unavailable);
                        }
                    }
                    return;
                }
                if (j->done) {
                    p.by_tag.emplace(tag.value(), std::move(j->done));
                }
            }
        }
        if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) || conn.has_buffered_input() || n == 0) {
            if (!handle_events()) {
                return;
            }
        }
    }
}

}  // namespace llmp::broker
