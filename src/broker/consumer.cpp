#include "broker/consumer.hpp"

#include "broker/connection.hpp"
#include "broker/logger.hpp"
#include "broker/prefetch_plan.hpp"
#include "broker/reconnect.hpp"

#include <poll.h>

#include <algorithm>
#include <vector>

namespace llmp::broker {

result<void> consumer::carry_out(connection& conn, const command& c) {
    switch (c.what) {
        case command::kind::ack:
            return conn.ack(c.tag);
        case command::kind::ack_multiple:
            return conn.ack(c.tag, /*multiple=*/true);
        case command::kind::reject_requeue:
            return conn.reject(c.tag, true);
        case command::kind::reject_drop:
            return conn.reject(c.tag, false);
        case command::kind::with_connection:
            return c.on_conn(conn);
        case command::kind::prefetch:
            return conn.change_prefetch(static_cast<std::uint16_t>(c.tag), c.shared);
        case command::kind::wake:
        case command::kind::call:
            break;
    }
    return ok();
}

bool consumer::carry_out_all(connection* conn, std::uint64_t epoch, std::vector<command>& cmds) {
    // The batch's prefetch changes, coalesced (broker/prefetch_plan.hpp): planned for this
    // connection's commands, unless they disagree on `shared` (then each goes as asked).
    std::vector<std::optional<std::uint16_t>> prefetch_after;
    bool shared = false;
    const bool changes = std::any_of(cmds.begin(), cmds.end(), [epoch](const command& c) {
        return c.what == command::kind::prefetch && c.epoch == epoch;
    });
    if (conn != nullptr && changes) {
        steps_.clear();
        bool planned = true;
        std::optional<bool> shared_seen;
        for (const auto& c : cmds) {
            prefetch_step step;
            if (c.epoch == epoch && c.what == command::kind::prefetch) {
                step = {prefetch_step::kind::prefetch, static_cast<std::uint16_t>(c.tag)};
                planned = planned && shared_seen.value_or(c.shared) == c.shared;
                shared_seen = c.shared;
            } else if (c.epoch == epoch &&
                       (c.what == command::kind::ack || c.what == command::kind::ack_multiple ||
                        c.what == command::kind::reject_requeue || c.what == command::kind::reject_drop)) {
                step.what = prefetch_step::kind::settle;
            }
            steps_.push_back(step);
        }
        if (planned) {
            shared = *shared_seen;
            prefetch_after = plan_prefetch(steps_, prefetch_in_effect_);
        } else {
            prefetch_in_effect_.reset();  // sent as asked: the next batch knows nothing of it
        }
    }
    bool healthy = true;
    for (std::size_t i = 0; i < cmds.size(); ++i) {
        auto& c = cmds[i];
        if (c.what == command::kind::call) {
            c.fn();
            continue;
        }
        if (!healthy || conn == nullptr || c.what == command::kind::wake) {
            continue;
        }
        if (c.what != command::kind::with_connection && c.epoch != epoch) {
            continue;  // acks for a dead connection are void (the broker requeued those deliveries)
        }
        result<void> r = ok();
        if (c.what != command::kind::prefetch || prefetch_after.empty()) {
            r = carry_out(*conn, c);
        }
        if (r && !prefetch_after.empty() && prefetch_after[i]) {
            c = command{command::kind::prefetch, epoch, *prefetch_after[i]};
            c.shared = shared;
            r = carry_out(*conn, c);
        }
        if (!r) {
            broker::logger()->warn("msg=\"{} failed\" consumer={} error=\"{}\"",
                                   c.what == command::kind::with_connection ? "subscription change"
                                   : c.what == command::kind::prefetch      ? "prefetch change"
                                                                            : "ack",
                                   name_, r.error().message);
            healthy = false;
        }
    }
    return healthy;
}

consumer::consumer(broker_config cfg, std::string name, setup_fn setup, delivery_fn on_delivery, state_fn on_state)
    : cfg_{std::move(cfg)},
      name_{std::move(name)},
      setup_{std::move(setup)},
      on_delivery_{std::move(on_delivery)},
      on_state_{std::move(on_state)} {}

consumer::~consumer() {
    stop();
}

result<void> consumer::start() {
    auto conn = connection::open(cfg_, name_);
    if (!conn) {
        return conn.error();
    }
    if (auto s = setup_(*conn.value()); !s) {
        return s;
    }
    initial_ = std::move(conn.value());
    connected_ = true;
    thread_ = std::thread{[this] { run(); }};
    return ok();
}

void consumer::stop() {
    if (!thread_.joinable()) {
        return;
    }
    stopping_ = true;
    commands_.push_unbounded(command{});
    thread_.join();
}

void consumer::ack(std::uint64_t epoch, std::uint64_t tag) {
    commands_.push_unbounded(command{command::kind::ack, epoch, tag});
}

void consumer::ack_multiple(std::uint64_t epoch, std::uint64_t tag) {
    commands_.push_unbounded(command{command::kind::ack_multiple, epoch, tag});
}

void consumer::change_prefetch(std::uint64_t epoch, std::uint16_t count, bool shared) {
    command c{command::kind::prefetch, epoch, count};
    c.shared = shared;
    commands_.push_unbounded(std::move(c));
}

void consumer::reject(std::uint64_t epoch, std::uint64_t tag, bool requeue) {
    commands_.push_unbounded(command{requeue ? command::kind::reject_requeue : command::kind::reject_drop, epoch, tag});
}

void consumer::after_pending(std::function<void()> fn) {
    command c{command::kind::call, 0, 0, std::move(fn)};
    commands_.push_unbounded(std::move(c));
}

void consumer::run_with_connection(std::function<result<void>(connection&)> fn) {
    command c{command::kind::with_connection, 0, 0, {}, std::move(fn)};
    commands_.push_unbounded(std::move(c));
}

void consumer::run() {
    std::vector<command> dropped;
    connection_loop_hooks hooks;
    hooks.role = "consumer";
    hooks.name = name_;
    hooks.set_up = setup_;
    hooks.wake_fd = commands_.fd();
    hooks.serve = [this](connection& c) { serve(c); };
    hooks.while_down = [this, &dropped] {
        dropped.clear();
        commands_.drain(dropped);
        carry_out_all(nullptr, 0, dropped);  // acks for a dead connection are void; calls run
    };
    hooks.on_state = [this](bool connected) {
        if (connected) {
            epoch_.fetch_add(1);  // before any delivery of the new connection is handed out
        }
        connected_ = connected;
        if (on_state_) {
            on_state_(connected);
        }
    };
    run_connection_loop(cfg_, std::move(initial_), stopping_, hooks);
    connected_ = false;
}

bool consumer::serve(connection& conn) {
    auto log = broker::logger();
    std::vector<command> cmds;
    const std::uint64_t epoch = epoch_.load();
    prefetch_in_effect_.reset();  // setup set it; the worker's next change is sent whatever it is
    while (!stopping_) {
        pollfd fds[2] = {{conn.fd(), POLLIN, 0}, {commands_.fd(), POLLIN, 0}};
        int timeout_ms = conn.has_buffered_input() ? 0 : 1000;
        int n = ::poll(fds, 2, timeout_ms);
        if (n < 0 && errno != EINTR) {
            return false;
        }
        if (fds[1].revents & POLLIN) {
            cmds.clear();
            commands_.drain(cmds);
            if (!carry_out_all(&conn, epoch, cmds)) {
                return false;
            }
        }
        // Read what has arrived (bounded, so acks queued meanwhile are not starved). Once
        // rabbitmq-c holds no complete frame, back to poll(): another next_event() would only
        // cost a recv() that finds nothing and a poll(0). Each wake still calls next_event() at
        // least once, a command's too: that call runs rabbitmq-c's heartbeat checks (send one
        // when due; a broker silent past its heartbeat is a lost connection).
        for (int i = 0; i < 256; ++i) {
            auto ev = conn.next_event(std::chrono::milliseconds{0});
            if (!ev) {
                if (!stopping_) {
                    log->warn("msg=\"consumer connection lost\" consumer={} error=\"{}\"", name_, ev.error().message);
                }
                return false;
            }
            auto& e = ev.value();
            if (auto* d = std::get_if<delivery>(&e)) {
                on_delivery_(std::move(*d), epoch);
            } else if (std::holds_alternative<std::monostate>(e)) {
                break;
            }
            if (!conn.has_buffered_input()) {
                break;
            }
        }
    }
    // Stopping: carry out the acks already asked for, so finished work is not redelivered.
    cmds.clear();
    commands_.drain(cmds);
    (void)carry_out_all(&conn, epoch, cmds);
    return true;
}

}  // namespace llmp::broker
