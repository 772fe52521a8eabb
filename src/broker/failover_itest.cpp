// A list of broker URLs against the real RabbitMQ that scripts/test starts
// (LLMPROXY_TEST_AMQP_URL): connections skip nodes that do not answer, and a publisher and a
// consumer whose node goes reconnect to another node of the list and carry on. The "nodes" are
// loopback TCP relays to the one test broker, so a node can be taken away (listener and every
// connection through it closed) without the time a real cluster needs to start; the
// three-node cluster itself is exercised by scripts/cluster-e2e. Also: quorum queues carry requests and audit
// copies (a one-node cluster is a cluster), and a nacked publish moves the publisher to a new
// channel without losing any confirm.

#include "broker/connection.hpp"
#include "broker/consumer.hpp"
#include "broker/publisher.hpp"
#include "broker/topology.hpp"
#include "common/ids.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace llmp::broker {
namespace {

using namespace std::chrono_literals;

/// A loopback socket bound to a free port: the port of its sockaddr.
int bound_port(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
}

int bind_loopback() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        throw std::runtime_error("cannot bind a loopback socket");
    }
    return fd;
}

/// A port nothing listens on while this lives: bound, never listening, so a connect is refused
/// and no other process can take the port meanwhile.
struct dead_port {
    int fd = bind_loopback();
    int port = bound_port(fd);
    ~dead_port() { ::close(fd); }
};

/// A TCP relay 127.0.0.1:port() -> `target_port`, one thread per relay: a stand-in for a
/// cluster node. cut() closes the listener and every connection, as a lost host would.
class relay {
public:
    explicit relay(int target_port) : target_{target_port}, listener_{bind_loopback()}, port_{bound_port(listener_)} {
        ::listen(listener_, 16);
        thread_ = std::thread{[this] { run(); }};
    }
    ~relay() { cut(); }
    int port() const { return port_; }
    int accepted() const { return accepted_; }
    void cut() {
        if (!cut_.exchange(true)) {
            thread_.join();
        }
    }

private:
    void run() {
        std::vector<std::pair<int, int>> pairs;  // (client, upstream)
        while (!cut_) {
            std::vector<pollfd> fds{{listener_, POLLIN, 0}};
            for (auto [c, u] : pairs) {
                fds.push_back({c, POLLIN, 0});
                fds.push_back({u, POLLIN, 0});
            }
            if (::poll(fds.data(), fds.size(), 20) <= 0) {
                continue;
            }
            const std::size_t polled = pairs.size();  // a pair accepted below was not polled yet
            if (fds[0].revents & POLLIN) {
                int c = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
                int u = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                sockaddr_in a{};
                a.sin_family = AF_INET;
                a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                a.sin_port = htons(static_cast<std::uint16_t>(target_));
                if (c >= 0 && ::connect(u, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
                    pairs.emplace_back(c, u);
                    ++accepted_;
                } else {
                    ::close(c);
                    ::close(u);
                }
            }
            std::vector<std::pair<int, int>> open;
            for (std::size_t i = 0; i < pairs.size(); ++i) {
                auto [c, u] = pairs[i];
                bool ok = i >= polled || (copy_if_ready(fds[1 + 2 * i], c, u) && copy_if_ready(fds[2 + 2 * i], u, c));
                if (ok) {
                    open.emplace_back(c, u);
                } else {
                    ::close(c);
                    ::close(u);
                }
            }
            pairs = std::move(open);
        }
        for (auto [c, u] : pairs) {
            ::close(c);
            ::close(u);
        }
        ::close(listener_);
    }
    /// Copies what `p.fd` has to `to`; false once either side closed.
    static bool copy_if_ready(const pollfd& p, int from, int to) {
        if ((p.revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
            return true;
        }
        char buf[16384];
        ssize_t n = ::read(from, buf, sizeof buf);
        if (n <= 0) {
            return false;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = ::write(to, buf + off, static_cast<std::size_t>(n - off));
            if (w <= 0) {
                return false;
            }
            off += w;
        }
        return true;
    }

    int target_;
    int listener_;
    int port_;
    std::atomic<int> accepted_{0};
    std::atomic<bool> cut_{false};
    std::thread thread_;
};

class failover_itest : public ::testing::Test {
protected:
    void SetUp() override {
        const char* url = std::getenv("LLMPROXY_TEST_AMQP_URL");
        if (url == nullptr) {
            GTEST_SKIP() << "LLMPROXY_TEST_AMQP_URL is not set (scripts/test sets it)";
        }
        auto ep = parse_amqp_url(url);
        ASSERT_TRUE(ep) << ep.error().message;
        broker = ep.value();
        cfg.prefix = new_component_id("t");
        cfg.reconnect_min = 20ms;
        cfg.reconnect_max = 200ms;
    }
    /// The URL of "a node" at 127.0.0.1:`port` with the test broker's credentials and vhost.
    std::string url_at(int port) const {
        return "amqp://" + broker.user + ":" + broker.password + "@127.0.0.1:" + std::to_string(port) + "/" +
               (broker.vhost == "/" ? "" : broker.vhost);
    }
    amqp_endpoint broker;
    broker_config cfg;
};

TEST_F(failover_itest, open_skips_the_nodes_that_do_not_answer_wherever_it_starts) {
    dead_port a, b;
    relay live{broker.port};
    cfg.url = url_at(a.port) + ", " + url_at(live.port()) + "," + url_at(b.port);
    // Each open() starts one node further on: three in a row start at each node once.
    for (int i = 0; i < 3; ++i) {
        auto c = connection::open(cfg, "itest failover open");
        ASSERT_TRUE(c) << c.error().message;
        EXPECT_EQ(c.value()->node(), "127.0.0.1:" + std::to_string(live.port()));
    }
    EXPECT_EQ(live.accepted(), 3);
}

TEST_F(failover_itest, open_fails_naming_every_node_when_none_answers) {
    dead_port a, b;
    cfg.url = url_at(a.port) + "," + url_at(b.port);
    auto c = connection::open(cfg, "itest failover none");
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().message.find("no RabbitMQ node answered"), std::string::npos) << c.error().message;
    EXPECT_NE(c.error().message.find(":" + std::to_string(a.port)), std::string::npos) << c.error().message;
    EXPECT_NE(c.error().message.find(":" + std::to_string(b.port)), std::string::npos) << c.error().message;
    EXPECT_EQ(c.error().message.find(broker.password.empty() ? "\x01" : broker.password), std::string::npos)
        << "no password in errors";
}

TEST_F(failover_itest, a_bad_url_anywhere_in_the_list_fails_at_once) {
    relay live{broker.port};
    cfg.url = url_at(live.port()) + ",http://elsewhere/";
    auto c = connection::open(cfg, "itest failover typo");
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code, "bad_config");
    EXPECT_EQ(live.accepted(), 0);
}

/// Deliveries seen by a consumer, with the epoch (connection) each came on.
struct inbox {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::pair<std::string, std::uint64_t>> got;  // body, epoch
    void push(std::string body, std::uint64_t epoch) {
        std::lock_guard lock{mu};
        got.emplace_back(std::move(body), epoch);
        cv.notify_all();
    }
    bool wait_for(const std::string& body, std::chrono::milliseconds t = 20s) {
        std::unique_lock lock{mu};
        return cv.wait_for(lock, t, [&] {
            for (auto& [b, e] : got) {
                if (b == body) {
                    return true;
                }
            }
            return false;
        });
    }
};

/// Publishes `body` to `exchange` with `key` until it is confirmed (a publish refused while the
/// publisher reconnects is tried again, as the API's caller would); false after `deadline`.
bool publish_confirmed(publisher& pub, const std::string& exchange, const std::string& key, const std::string& body,
                       std::chrono::steady_clock::time_point deadline) {
    while (std::chrono::steady_clock::now() < deadline) {
        auto done = std::make_shared<std::promise<publish_status>>();
        publish_job job;
        job.msg.exchange = exchange;
        job.msg.routing_key = key;
        job.msg.props.persistent = true;
        job.msg.body = body;
        job.done = [done](publish_status s) { done->set_value(s); };
        auto f = done->get_future();
        if (pub.try_publish(std::move(job)) && f.wait_for(10s) == std::future_status::ready &&
            f.get() == publish_status::confirmed) {
            return true;
        }
        std::this_thread::sleep_for(50ms);  // retry pacing while the publisher reconnects, not a guess
    }
    return false;
}

/// Two "nodes" relay to one broker. A publisher and a consumer with both in their list carry a
/// request and a control message (consumed on the consumer's second channel, as a worker
/// does); the node that holds their connections is cut; both reconnect through the other and
/// the next request and control message arrive.
void check_failover(broker_config cfg, const std::string& first_url, relay& first, const std::string& second_url,
                    relay& second) {
    const std::string model = "failover:latest";
    topology topo{cfg.prefix};
    cfg.url = first_url + "," + second_url;
    auto set_up_queues = [&](connection& c) -> result<void> {
        if (auto r = declare_core(c, topo, cfg); !r) {
            return r;
        }
        return declare_model_queue(c, topo, cfg, model);
    };
    publisher pub{cfg, "itest failover pub", set_up_queues};
    ASSERT_TRUE(pub.start());
    inbox box;
    consumer* con_ptr = nullptr;
    consumer con{cfg, "itest failover con",
                 [&](connection& c) -> result<void> {
                     if (auto r = set_up_queues(c); !r) {
                         return r;
                     }
                     if (auto r = c.set_prefetch(8); !r) {
                         return r;
                     }
                     if (auto t = c.consume(topo.model_queue(model), /*no_ack=*/false); !t) {
                         return t.error();
                     }
                     queue_options own{.durable = false, .exclusive = true, .auto_delete = true, .arguments = {}};
                     auto q = c.declare_queue("", own);
                     if (!q) {
                         return q.error();
                     }
                     if (auto r = c.bind_queue(q.value(), topo.control_exchange, "cancel.*"); !r) {
                         return r;
                     }
                     auto t = c.consume_unlimited(q.value());
                     return t ? ok() : result<void>{t.error()};
                 },
                 [&](delivery&& d, std::uint64_t epoch) {
                     if (d.exchange != topo.control_exchange) {  // control messages are no-ack
                         con_ptr->ack(epoch, d.delivery_tag);
                     }
                     box.push(std::move(d.body), epoch);
                 }};
    con_ptr = &con;
    ASSERT_TRUE(con.start());
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    const auto request_key = topo.model_key(model);
    ASSERT_TRUE(publish_confirmed(pub, topo.requests_exchange, request_key, "before", deadline));
    ASSERT_TRUE(box.wait_for("before"));
    ASSERT_TRUE(publish_confirmed(pub, topo.control_exchange, cancel_key("r1"), "cancel before", deadline));
    ASSERT_TRUE(box.wait_for("cancel before"));

    // Cut the node that holds connections (the rotation put them on one or both).
    relay& lost = first.accepted() > 0 ? first : second;
    relay& kept = &lost == &first ? second : first;
    const int on_lost = lost.accepted();
    const int kept_before = kept.accepted();
    lost.cut();
    ASSERT_TRUE(publish_confirmed(pub, topo.requests_exchange, request_key, "after", deadline))
        << "the publisher carried on";
    ASSERT_TRUE(box.wait_for("after")) << "the consumer carried on";
    // Its setup ran again on the new connection (that is when "after" could arrive): the control
    // queue is declared, bound and consumed on a second channel opened anew.
    ASSERT_TRUE(publish_confirmed(pub, topo.control_exchange, cancel_key("r2"), "cancel after", deadline));
    ASSERT_TRUE(box.wait_for("cancel after")) << "the control consumer carried on";
    EXPECT_GE(kept.accepted() - kept_before, 1) << on_lost << " connection(s) were on the lost node";
    pub.stop();
    con.stop();
}

TEST_F(failover_itest, a_publisher_and_a_consumer_whose_node_goes_carry_on_through_another) {
    relay first{broker.port}, second{broker.port};
    check_failover(cfg, url_at(first.port()), first, url_at(second.port()), second);
}

TEST_F(failover_itest, quorum_queues_carry_requests_and_audit_copies) {
    cfg.queue_type = "quorum";
    cfg.url = url_at(broker.port);
    topology topo{cfg.prefix};
    const std::string model = "quorum:latest";
    auto conn = connection::open(cfg, "itest quorum");
    ASSERT_TRUE(conn) << conn.error().message;
    ASSERT_TRUE(declare_core(*conn.value(), topo, cfg));
    ASSERT_TRUE(declare_model_queue(*conn.value(), topo, cfg, model));
    // The work queue is a quorum queue: RabbitMQ 3.10 refuses x-max-priority on it, so a classic
    // priority declare of the same name is refused as different (precondition_failed) or
    // invalid; either way not accepted.
    queue_options classic;
    classic.arguments = {{"x-max-priority", std::int64_t{9}}};
    EXPECT_FALSE(conn.value()->declare_queue_kept(topo.model_queue(model), classic));

    relay first{broker.port}, second{broker.port};
    check_failover(cfg, url_at(first.port()), first, url_at(second.port()), second);
    auto audit = conn.value()->inspect_queue(topo.audit_requests_queue);
    ASSERT_TRUE(audit) << audit.error().message;
    // A publish whose confirm was lost with its node is sent again: at least both, maybe more.
    EXPECT_GE(audit.value().messages, 2u) << "the audit copies of both requests";
}

/// One publish to `queue` (default exchange); its outcome arrives on the future.
std::future<publish_status> publish_to(publisher& pub, const std::string& queue, const std::string& body) {
    auto done = std::make_shared<std::promise<publish_status>>();
    auto f = done->get_future();
    publish_job job;
    job.msg.routing_key = queue;
    job.msg.body = body;
    job.done = [done](publish_status s) { done->set_value(s); };
    if (!pub.try_publish(std::move(job))) {
        done->set_value(publish_status::broker_unavailable);
    }
    return f;
}

publish_status outcome(std::future<publish_status>& f) {
    return f.wait_for(10s) == std::future_status::ready ? f.get() : publish_status::broker_unavailable;
}

// RabbitMQ 3.10 can leave a channel nacking every publish to a quorum queue whose leader's node
// died (publisher.cpp, "A nack renews the channel"; the cluster itself is scripts/cluster-e2e's):
// after a nack the publisher goes on on a new channel, and the confirms of publishes still
// pending on the old one, and the new one's, reach the right jobs. A full reject-publish queue
// gives the nacks here.
TEST_F(failover_itest, a_nack_moves_the_publisher_to_a_new_channel_and_every_confirm_still_finds_its_job) {
    cfg.url = url_at(broker.port);
    const std::string full = cfg.prefix + ".full";  // holds one message, then refuses
    const std::string open = cfg.prefix + ".open";
    auto set_up = [&](connection& c) -> result<void> {
        queue_options one;
        one.durable = false;
        one.auto_delete = false;
        one.arguments = {{"x-max-length", std::int64_t{1}},
                         {"x-overflow", std::string{"reject-publish"}},
                         {"x-expires", std::int64_t{60000}}};
        if (auto r = c.declare_queue(full, one); !r) {
            return r.error();
        }
        queue_options any;
        any.durable = false;
        any.arguments = {{"x-expires", std::int64_t{60000}}};  // gone a minute after the test
        auto r = c.declare_queue(open, any);
        return r ? ok() : result<void>{r.error()};
    };
    publisher pub{cfg, "itest nack renew", set_up};
    ASSERT_TRUE(pub.start());

    auto first = publish_to(pub, full, "fits");
    ASSERT_EQ(outcome(first), publish_status::confirmed);
    EXPECT_EQ(pub.channels_renewed(), 0u);
    auto refused = publish_to(pub, full, "refused");
    ASSERT_EQ(outcome(refused), publish_status::nacked);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (pub.channels_renewed() == 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(5ms);  // the renewal follows the nack's callback on the publisher thread
    }
    ASSERT_EQ(pub.channels_renewed(), 1u);
    auto after = publish_to(pub, open, "after");
    EXPECT_EQ(outcome(after), publish_status::confirmed) << "the new channel's first confirm";

    // Many in flight with nacks among them: renewals happen while confirms are pending on the
    // channel being left; each job still gets its own outcome.
    std::vector<std::future<publish_status>> oks, nacks;
    for (int round = 0; round < 4; ++round) {
        for (int i = 0; i < 50; ++i) {
            oks.push_back(publish_to(pub, open, "m" + std::to_string(round) + "." + std::to_string(i)));
            if (i == 25) {
                nacks.push_back(publish_to(pub, full, "refused again"));
            }
        }
        std::this_thread::sleep_for(300ms);  // past the renewal interval, so each round may renew
    }
    for (auto& f : oks) {
        EXPECT_EQ(outcome(f), publish_status::confirmed);
    }
    for (auto& f : nacks) {
        EXPECT_EQ(outcome(f), publish_status::nacked);
    }
    EXPECT_GE(pub.channels_renewed(), 2u);
    pub.stop();

    auto conn = connection::open(cfg, "itest nack renew check");
    ASSERT_TRUE(conn) << conn.error().message;
    auto o = conn.value()->inspect_queue(open);
    ASSERT_TRUE(o) << o.error().message;
    EXPECT_EQ(o.value().messages, 201u);
    auto f = conn.value()->inspect_queue(full);
    ASSERT_TRUE(f) << f.error().message;
    EXPECT_EQ(f.value().messages, 1u);
}

}  // namespace
}  // namespace llmp::broker
