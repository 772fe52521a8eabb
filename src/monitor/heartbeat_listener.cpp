#include "monitor/heartbeat_listener.hpp"

#include "broker/connection.hpp"
#include "broker/topology.hpp"
#include "common/messages.hpp"
#include "monitor/logger.hpp"

namespace llmp::monitor {

heartbeat_listener::heartbeat_listener(const broker::broker_config& cfg, live_workers& workers)
    : cfg_{cfg}, workers_{workers} {
    broker::topology topo{cfg_.prefix};
    auto setup = [control = topo.control_exchange](broker::connection& c) -> result<void> {
        if (auto r = c.declare_exchange(control, "topic"); !r) {
            return r;
        }
        broker::queue_options own{.durable = false, .exclusive = true, .auto_delete = true, .arguments = {}};
        auto q = c.declare_queue("", own);
        if (!q) {
            return q.error();
        }
        if (auto b = c.bind_queue(q.value(), control, broker::heartbeat_key); !b) {
            return b;
        }
        // Ask every worker for an immediate heartbeat, as an API server does on start, so the
        // worker table is complete at once.
        broker::outgoing_message discover;
        discover.exchange = control;
        discover.routing_key = std::string{broker::discover_key};
        discover.body = "llmproxy-monitor";
        if (auto p = c.publish(discover); !p) {
            return p.error();
        }
        if (auto h = c.consume(q.value(), /*no_ack=*/true); !h) {
            return h.error();
        }
        return ok();
    };
    auto on_delivery = [this](broker::delivery&& d, std::uint64_t) {
        auto hb = decode_heartbeat(d.body);
        if (hb) {
            workers_.update(hb.value());
        } else {
            logger()->debug("msg=\"ignored malformed heartbeat\" error=\"{}\"", hb.error().message);
        }
    };
    auto on_state = [](bool up) {
        if (up) {
            logger()->info("msg=\"heartbeat consumer connected\"");
        } else {
            logger()->warn("msg=\"heartbeat consumer lost the broker; reconnecting\"");
        }
    };
    consumer_ = std::make_unique<broker::consumer>(cfg_, "llmproxy monitor heartbeats", std::move(setup),
                                                   std::move(on_delivery), std::move(on_state));
}

heartbeat_listener::~heartbeat_listener() {
    stop();
}

void heartbeat_listener::start() {
    starter_ = std::thread{[this] {
        bool warned = false;
        for (;;) {
            auto r = consumer_->start();
            if (r) {
                return;
            }
            if (!warned) {
                logger()->warn("msg=\"heartbeat consumer cannot connect; retrying\" error=\"{}\"", r.error().message);
                warned = true;
            }
            llmp::unique_lock lock{mu_};
            if (cv_.wait_for(lock.native(), std::chrono::seconds{2}, [this]() REQUIRES(mu_) { return stopping_; })) {
                return;
            }
        }
    }};
}

void heartbeat_listener::stop() {
    {
        llmp::lock_guard lock{mu_};
        stopping_ = true;
    }
    cv_.notify_all();
    if (starter_.joinable()) {
        starter_.join();
    }
    consumer_->stop();
}

bool heartbeat_listener::connected() const {
    return consumer_->connected();
}

}  // namespace llmp::monitor
