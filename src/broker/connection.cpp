#include "broker/connection.hpp"

#include "common/secret_mask.hpp"

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>

namespace llmp::broker {
namespace {

constexpr amqp_channel_t main_channel = 1;
constexpr amqp_channel_t scratch_channel = 2;
/// Channels renew_publish_channel() takes, in turn. Far below RabbitMQ's channel_max (2047), and
/// so many that a number comes back only long after its channel was closed: no late frame of
/// the old channel can be taken for one of the new.
constexpr amqp_channel_t first_renewed_channel = 3;
constexpr amqp_channel_t last_renewed_channel = 2000;
/// The channel of consume_unlimited(): no basic.qos is ever sent on it.
constexpr amqp_channel_t unlimited_channel = 2001;

amqp_bytes_t bytes_of(std::string_view s) {
    return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}

std::string to_string(amqp_bytes_t b) {
    return b.len == 0 ? std::string{} : std::string{static_cast<const char*>(b.bytes), b.len};
}

std::string percent_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            int v = 0;
            auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
            if (ec == std::errc{} && p == s.data() + i + 3) {
                out.push_back(static_cast<char>(v));
                i += 2;
                continue;
            }
        }
        out.push_back(s[i]);
    }
    return out;
}

error broker_error(std::string what) {
    return error{"broker_unavailable", std::move(what), true};
}

/// Text for a failed RPC reply, or empty on success.
std::string describe(const amqp_rpc_reply_t& r) {
    switch (r.reply_type) {
        case AMQP_RESPONSE_NORMAL:
            return {};
        case AMQP_RESPONSE_NONE:
            return "missing RPC reply";
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            return amqp_error_string2(r.library_error);
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
                auto* m = static_cast<amqp_connection_close_t*>(r.reply.decoded);
                return "connection closed by broker: " + std::to_string(m->reply_code) + " " + to_string(m->reply_text);
            }
            if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
                auto* m = static_cast<amqp_channel_close_t*>(r.reply.decoded);
                return "channel closed by broker: " + std::to_string(m->reply_code) + " " + to_string(m->reply_text);
            }
            return "broker error (method " + std::to_string(r.reply.id) + ")";
    }
    return "unknown RPC reply";
}

/// Converts a table to rabbitmq-c form. Entries point into `src`, which must outlive the use.
struct table_builder {
    std::vector<amqp_table_entry_t> entries;
    amqp_table_t build(const field_table& src) {
        entries.clear();
        entries.reserve(src.size());
        for (const auto& [k, v] : src) {
            amqp_table_entry_t e{};
            e.key = bytes_of(k);
            if (const auto* i = std::get_if<std::int64_t>(&v)) {
                e.value.kind = AMQP_FIELD_KIND_I64;
                e.value.value.i64 = *i;
            } else if (const auto* s = std::get_if<std::string>(&v)) {
                e.value.kind = AMQP_FIELD_KIND_UTF8;
                e.value.value.bytes = bytes_of(*s);
            } else {
                e.value.kind = AMQP_FIELD_KIND_BOOLEAN;
                e.value.value.boolean = std::get<bool>(v) ? 1 : 0;
            }
            entries.push_back(e);
        }
        return amqp_table_t{static_cast<int>(entries.size()), entries.data()};
    }
};

field_table from_table(const amqp_table_t& t) {
    field_table out;
    out.reserve(static_cast<std::size_t>(t.num_entries));
    for (int i = 0; i < t.num_entries; ++i) {
        const auto& e = t.entries[i];
        std::string key = to_string(e.key);
        const auto& v = e.value;
        switch (v.kind) {
            case AMQP_FIELD_KIND_I8:
                out.emplace_back(key, std::int64_t{v.value.i8});
                break;
            case AMQP_FIELD_KIND_U8:
                out.emplace_back(key, std::int64_t{v.value.u8});
                break;
            case AMQP_FIELD_KIND_I16:
                out.emplace_back(key, std::int64_t{v.value.i16});
                break;
            case AMQP_FIELD_KIND_U16:
                out.emplace_back(key, std::int64_t{v.value.u16});
                break;
            case AMQP_FIELD_KIND_I32:
                out.emplace_back(key, std::int64_t{v.value.i32});
                break;
            case AMQP_FIELD_KIND_U32:
                out.emplace_back(key, std::int64_t{v.value.u32});
                break;
            case AMQP_FIELD_KIND_I64:
                out.emplace_back(key, std::int64_t{v.value.i64});
                break;
            case AMQP_FIELD_KIND_U64:
                out.emplace_back(key, static_cast<std::int64_t>(v.value.u64));
                break;
            case AMQP_FIELD_KIND_TIMESTAMP:
                out.emplace_back(key, static_cast<std::int64_t>(v.value.u64));
                break;
            case AMQP_FIELD_KIND_BOOLEAN:
                out.emplace_back(key, v.value.boolean != 0);
                break;
            case AMQP_FIELD_KIND_UTF8:
            case AMQP_FIELD_KIND_BYTES:
                out.emplace_back(key, to_string(v.value.bytes));
                break;
            default:
                break;  // arrays, nested tables, decimals: not used by llmproxy
        }
    }
    return out;
}

/// Fills `out` (a fresh properties) from rabbitmq-c's decoded ones.
void from_amqp(const amqp_basic_properties_t& p, properties& out) {
    if (p._flags & AMQP_BASIC_MESSAGE_ID_FLAG)
        out.message_id = to_string(p.message_id);
    if (p._flags & AMQP_BASIC_CORRELATION_ID_FLAG)
        out.correlation_id = to_string(p.correlation_id);
    if (p._flags & AMQP_BASIC_CONTENT_TYPE_FLAG)
        out.content_type = to_string(p.content_type);
    if (p._flags & AMQP_BASIC_TYPE_FLAG)
        out.type = to_string(p.type);
    if (p._flags & AMQP_BASIC_EXPIRATION_FLAG)
        out.expiration = to_string(p.expiration);
    if (p._flags & AMQP_BASIC_PRIORITY_FLAG)
        out.priority = p.priority;
    if (p._flags & AMQP_BASIC_DELIVERY_MODE_FLAG)
        out.persistent = p.delivery_mode == 2;
    if (p._flags & AMQP_BASIC_TIMESTAMP_FLAG)
        out.timestamp = static_cast<std::int64_t>(p.timestamp);
    if (p._flags & AMQP_BASIC_HEADERS_FLAG)
        out.headers = from_table(p.headers);
}

}  // namespace

std::vector<std::string> split_amqp_urls(std::string_view list) {
    std::vector<std::string> out;
    while (true) {
        auto comma = list.find(',');
        auto item = list.substr(0, comma);
        auto b = item.find_first_not_of(" \t");
        if (b != std::string_view::npos) {
            out.emplace_back(item.substr(b, item.find_last_not_of(" \t") - b + 1));
        }
        if (comma == std::string_view::npos) {
            return out;
        }
        list.remove_prefix(comma + 1);
    }
}

result<amqp_endpoint> parse_amqp_url(std::string_view list) {
    auto urls = split_amqp_urls(list);
    std::string_view url = urls.empty() ? std::string_view{} : std::string_view{urls.front()};
    amqp_endpoint ep;
    constexpr std::string_view scheme = "amqp://";
    if (url.substr(0, scheme.size()) != scheme) {
        // Never the URL as given: it carries the password (mask_secrets keeps the rest).
        return fail("bad_config", "AMQP URL must start with amqp:// (got '" + mask_secrets(url) + "')");
    }
    std::string_view rest = url.substr(scheme.size());
    std::string_view authority = rest.substr(0, rest.find('/'));
    std::string_view path = rest.size() > authority.size() ? rest.substr(authority.size() + 1) : "";
    if (auto at = authority.rfind('@'); at != std::string_view::npos) {
        std::string_view userinfo = authority.substr(0, at);
        authority = authority.substr(at + 1);
        auto colon = userinfo.find(':');
        ep.user = percent_decode(userinfo.substr(0, colon));
        ep.password = colon == std::string_view::npos ? "" : percent_decode(userinfo.substr(colon + 1));
    }
    if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
        auto port = authority.substr(colon + 1);
        auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), ep.port);
        if (ec != std::errc{} || p != port.data() + port.size() || ep.port <= 0 || ep.port > 65535) {
            return fail("bad_config", "bad port in AMQP URL '" + mask_secrets(url) + "'");
        }
        authority = authority.substr(0, colon);
    }
    if (!authority.empty()) {
        ep.host = std::string{authority};
    }
    if (!path.empty()) {
        ep.vhost = percent_decode(path);
    }
    return ep;
}

struct connection::impl {
    std::string node;  ///< host:port
    amqp_connection_state_t conn = nullptr;
    amqp_socket_t* socket = nullptr;
    table_builder tables;
    std::uint64_t next_publish_tag = 1;
    bool confirms = false;
    /// The channel publish() writes to, and where its delivery tags start in next_publish_tag's
    /// sequence (the broker numbers each channel's publishes from 1).
    amqp_channel_t publish_channel = main_channel;
    std::uint64_t publish_channel_base = 0;
    /// Channels left by renew_publish_channel(), still open: number, tag base, last tag.
    struct renewed_channel {
        amqp_channel_t number;
        std::uint64_t base;
        std::uint64_t last_tag;
    };
    std::vector<renewed_channel> renewed;
    amqp_channel_t last_renewed = main_channel;
    bool unlimited_open = false;
    /// Tags of the consumers on unlimited_channel: cancel() must name their channel.
    std::vector<std::string> unlimited_tags;
    /// Deliveries and returns whose content (a header frame, then body frames) is still being
    /// read, one per channel at most (AMQP keeps a channel's content frames together; frames of
    /// other channels may come between). See next_event().
    struct partial_content {
        amqp_channel_t channel = 0;
        event message;  ///< a delivery or returned_message, props and body still to come
        bool header_seen = false;
        std::uint64_t body_size = 0;
        bool taken = false;  ///< complete and moved out: erased at the next next_event()
    };
    std::vector<partial_content> partial;

    /// Takes a header or body frame into its channel's partial content. Returns that partial
    /// content once it is complete (the caller moves its message out and marks it taken: one
    /// move of the message, not one per return), null before (or for a content frame no method
    /// announced: ignored), an error for frames out of order.
    result<partial_content*> take_content(const amqp_frame_t& frame) {
        auto it = std::find_if(partial.begin(), partial.end(),
                               [&](const partial_content& p) { return p.channel == frame.channel; });
        if (it == partial.end()) {
            return nullptr;
        }
        bool complete = false;
        std::string problem;
        std::visit(
            [&](auto& m) {
                if constexpr (std::is_same_v<std::decay_t<decltype(m)>, delivery> ||
                              std::is_same_v<std::decay_t<decltype(m)>, returned_message>) {
                    if (frame.frame_type == AMQP_FRAME_HEADER) {
                        if (it->header_seen || frame.payload.properties.class_id != AMQP_BASIC_CLASS) {
                            problem = "unexpected content header";
                            return;
                        }
                        // Converted where rabbitmq-c decoded them (its frame pool, valid until the
                        // next amqp_maybe_release_buffers()).
                        from_amqp(*static_cast<const amqp_basic_properties_t*>(frame.payload.properties.decoded),
                                  m.props);
                        it->header_seen = true;
                        it->body_size = frame.payload.properties.body_size;
                        m.body.reserve(it->body_size);
                    } else {
                        const auto& part = frame.payload.body_fragment;
                        if (!it->header_seen || part.len > it->body_size - m.body.size()) {
                            problem = "unexpected content body";
                            return;
                        }
                        m.body.append(static_cast<const char*>(part.bytes), part.len);
                    }
                    complete = m.body.size() == it->body_size;
                }
            },
            it->message);
        if (!problem.empty()) {
            return broker_error("reading a message on channel " + std::to_string(frame.channel) + ": " + problem);
        }
        return complete ? &*it : nullptr;
    }

    /// Starts reading the content of a delivery or return announced on `channel`: the message
    /// is made in place, its fields filled in by the caller.
    template <class Message>
    result<Message*> begin_content(amqp_channel_t channel) {
        for (const auto& p : partial) {
            if (p.channel == channel) {
                return broker_error("a message began on channel " + std::to_string(channel) +
                                    " before the previous one's content was read");
            }
        }
        auto& p = partial.emplace_back();
        p.channel = channel;
        return &p.message.emplace<Message>();
    }

    /// A confirm's delivery tag on `channel` in next_publish_tag's sequence; 0 for a channel
    /// that publishes nothing of ours any more.
    std::uint64_t tag_of(amqp_channel_t channel, std::uint64_t channel_tag) const {
        if (channel == publish_channel) {
            return publish_channel_base + channel_tag;
        }
        for (const auto& r : renewed) {
            if (r.number == channel) {
                return r.base + channel_tag;
            }
        }
        return 0;
    }

    /// publish()'s encoded frames (all but the body's bytes), reused from message to message,
    /// and the pieces of the one sendmsg() that writes them with the body between.
    std::vector<std::uint8_t> out;
    std::vector<iovec> pieces;

    /// Encodes basic.publish, the content header and the body frames of one message and writes
    /// them with one sendmsg() (more only for a partial write or a body of over IOV_MAX/2
    /// frames). See publish().
    result<void> write_publish(amqp_basic_publish_t& method, amqp_basic_properties_t& props, std::string_view body) {
        constexpr std::size_t header_size = 7;  // type, channel, payload size
        constexpr std::size_t frame_overhead = header_size + 1;
        const auto frame_max = static_cast<std::size_t>(amqp_get_frame_max(conn));
        const std::size_t body_per_frame = frame_max - frame_overhead;
        const std::size_t body_frames = (body.size() + body_per_frame - 1) / body_per_frame;
        // Method and header frames fit in frame_max each (AMQP; rabbitmq-c's encoders refuse
        // more), then a frame end and the next frame's header between body frames.
        const std::size_t need = 2 * frame_max + body_frames * frame_overhead;
        if (out.size() < need) {
            out.resize(need);
        }
        auto* b = out.data();
        auto frame_header = [&](std::size_t at, std::uint8_t type, std::size_t payload) {
            b[at] = type;
            b[at + 1] = static_cast<std::uint8_t>(publish_channel >> 8);
            b[at + 2] = static_cast<std::uint8_t>(publish_channel);
            for (int i = 0; i < 4; ++i) {
                b[at + 3 + i] = static_cast<std::uint8_t>(payload >> (24 - 8 * i));
            }
        };
        auto put_u16 = [&](std::size_t at, std::uint16_t v) {
            b[at] = static_cast<std::uint8_t>(v >> 8);
            b[at + 1] = static_cast<std::uint8_t>(v);
        };
        // Method frame: class and method id (AMQP_BASIC_PUBLISH_METHOD = 60 << 16 | 40), arguments.
        put_u16(header_size, AMQP_BASIC_CLASS);
        put_u16(header_size + 2, static_cast<std::uint16_t>(AMQP_BASIC_PUBLISH_METHOD & 0xFFFF));
        const int args = amqp_encode_method(AMQP_BASIC_PUBLISH_METHOD, &method,
                                            amqp_bytes_t{frame_max - frame_overhead - 4, b + header_size + 4});
        if (args < 0) {
            return broker_error(std::string{"publish failed: "} + amqp_error_string2(args));
        }
        const std::size_t method_payload = 4 + static_cast<std::size_t>(args);
        frame_header(0, AMQP_FRAME_METHOD, method_payload);
        std::size_t at = header_size + method_payload;
        b[at++] = AMQP_FRAME_END;
        // Content header frame: class, weight 0, body size, property flags and list.
        const std::size_t header_at = at;
        put_u16(at + header_size, AMQP_BASIC_CLASS);
        put_u16(at + header_size + 2, 0);
        for (int i = 0; i < 8; ++i) {
            b[at + header_size + 4 + i] = static_cast<std::uint8_t>(std::uint64_t{body.size()} >> (56 - 8 * i));
        }
        const int props_len = amqp_encode_properties(
            AMQP_BASIC_CLASS, &props, amqp_bytes_t{frame_max - frame_overhead - 12, b + at + header_size + 12});
        if (props_len < 0) {
            return broker_error(std::string{"publish failed: "} + amqp_error_string2(props_len));
        }
        const std::size_t header_payload = 12 + static_cast<std::size_t>(props_len);
        frame_header(header_at, AMQP_FRAME_HEADER, header_payload);
        at = header_at + header_size + header_payload;
        b[at++] = AMQP_FRAME_END;
        // Body frames: the bytes between them are ours (end, next header), the body's are not
        // copied.
        pieces.clear();
        std::size_t piece_start = 0;
        for (std::size_t f = 0; f < body_frames; ++f) {
            const std::size_t off = f * body_per_frame;
            const std::size_t len = std::min(body_per_frame, body.size() - off);
            if (f > 0) {
                b[at++] = AMQP_FRAME_END;
            }
            frame_header(at, AMQP_FRAME_BODY, len);
            at += header_size;
            pieces.push_back({b + piece_start, at - piece_start});
            pieces.push_back({const_cast<char*>(body.data() + off), len});
            piece_start = at;
        }
        if (body_frames > 0) {
            b[at++] = AMQP_FRAME_END;
        }
        pieces.push_back({b + piece_start, at - piece_start});
        return write_all();
    }

    /// Writes `pieces` whole (see publish() for the waiting); shuts the socket down if it
    /// cannot, since a partial frame may not be followed by anything.
    result<void> write_all() {
        const int fd = amqp_get_sockfd(conn);
        std::size_t first = 0;
        while (first < pieces.size()) {
            msghdr msg{};
            msg.msg_iov = pieces.data() + first;
            msg.msg_iovlen = std::min<std::size_t>(pieces.size() - first, IOV_MAX);
            const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    if (auto w = wait_writable(fd); !w) {
                        ::shutdown(fd, SHUT_RDWR);
                        return w;
                    }
                    continue;
                }
                const int err = errno;
                ::shutdown(fd, SHUT_RDWR);
                return broker_error(std::string{"publish failed: "} + std::strerror(err));
            }
            auto left = static_cast<std::size_t>(n);
            while (first < pieces.size() && left >= pieces[first].iov_len) {
                left -= pieces[first].iov_len;
                ++first;
            }
            if (left > 0) {
                pieces[first].iov_base = static_cast<char*>(pieces[first].iov_base) + left;
                pieces[first].iov_len -= left;
            }
        }
        return ok();
    }

    /// Waits until the socket takes more bytes. Gives up when twice the heartbeat passed and
    /// the broker sent nothing meanwhile (no heartbeat: waits as long as it takes, as
    /// rabbitmq-c does with no deadline).
    result<void> wait_writable(int fd) {
        const int heartbeat_s = amqp_get_heartbeat(conn);
        int waiting_before = 0;
        ::ioctl(fd, FIONREAD, &waiting_before);
        for (;;) {
            pollfd pfd{fd, POLLOUT, 0};
            const int n = ::poll(&pfd, 1, heartbeat_s > 0 ? 2 * heartbeat_s * 1000 : -1);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0) {
                return broker_error(std::string{"publish failed: poll: "} + std::strerror(errno));
            }
            if (n > 0) {
                if ((pfd.revents & POLLOUT) != 0) {
                    return ok();
                }
                return broker_error("publish failed: connection lost");  // POLLERR or POLLHUP
            }
            int waiting = 0;
            ::ioctl(fd, FIONREAD, &waiting);
            if (waiting == waiting_before) {
                return broker_error("connection lost: the broker neither read a publish nor sent anything for " +
                                    std::to_string(2 * heartbeat_s) + " s");
            }
            waiting_before = waiting;
        }
    }

    ~impl() {
        if (conn != nullptr) {
            amqp_channel_close(conn, main_channel, AMQP_REPLY_SUCCESS);
            amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
            amqp_destroy_connection(conn);
        }
    }

    result<void> check_rpc(std::string_view what) {
        auto r = amqp_get_rpc_reply(conn);
        if (auto text = describe(r); !text.empty()) {
            return broker_error(std::string{what} + ": " + text);
        }
        return ok();
    }
};

connection::connection(std::unique_ptr<impl> p) : impl_{std::move(p)} {}
connection::~connection() = default;

namespace {

/// Where the next open() starts in a URL list: advanced by every open() of the process.
std::atomic<std::size_t> next_node{0};

}  // namespace

result<std::unique_ptr<connection>> connection::open(const broker_config& cfg, std::string_view name) {
    auto urls = split_amqp_urls(cfg.url);
    if (urls.empty()) {
        return fail("bad_config", "no AMQP URL given");
    }
    std::vector<amqp_endpoint> nodes;
    for (const auto& u : urls) {
        auto ep = parse_amqp_url(u);
        if (!ep) {
            return ep.error();  // a typo fails at once, not as a node that never answers
        }
        nodes.push_back(std::move(ep.value()));
    }
    const std::size_t start = next_node.fetch_add(1, std::memory_order_relaxed);
    std::string errors;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        auto c = open_node(cfg, nodes[(start + i) % nodes.size()], name);
        if (c) {
            return c;
        }
        errors += (errors.empty() ? "" : "; ") + c.error().message;
    }
    return broker_error(nodes.size() == 1 ? errors : "no RabbitMQ node answered: " + errors);
}

result<std::unique_ptr<connection>> connection::open_node(const broker_config& cfg, const amqp_endpoint& e,
                                                          std::string_view name) {
    auto p = std::make_unique<impl>();
    p->node = e.host + ":" + std::to_string(e.port);
    p->conn = amqp_new_connection();
    p->socket = amqp_tcp_socket_new(p->conn);
    if (p->socket == nullptr) {
        return broker_error("cannot create a TCP socket for AMQP");
    }
    timeval tv{5, 0};
    errno = 0;
    if (int rc = amqp_socket_open_noblock(p->socket, e.host.c_str(), e.port, &tv); rc != AMQP_STATUS_OK) {
        int err = errno;  // rabbitmq-c says only "a socket error occurred"; the OS says why
        std::string why = amqp_error_string2(rc);
        if (rc == AMQP_STATUS_SOCKET_ERROR && err != 0) {
            why = std::strerror(err);
        }
        return broker_error("cannot connect to RabbitMQ at " + e.host + ":" + std::to_string(e.port) + ": " + why);
    }
    // Client properties: the connection name shown by the management UI.
    std::string conn_name{name};
    amqp_table_entry_t prop{};
    prop.key = amqp_cstring_bytes("connection_name");
    prop.value.kind = AMQP_FIELD_KIND_UTF8;
    prop.value.value.bytes = bytes_of(conn_name);
    amqp_table_t client_props{1, &prop};
    auto r = amqp_login_with_properties(p->conn, e.vhost.c_str(), 0, AMQP_DEFAULT_FRAME_SIZE, cfg.heartbeat_s,
                                        &client_props, AMQP_SASL_METHOD_PLAIN, e.user.c_str(), e.password.c_str());
    if (auto text = describe(r); !text.empty()) {
        return broker_error("cannot log in to RabbitMQ at " + e.host + ":" + std::to_string(e.port) + " as '" + e.user +
                            "': " + text);
    }
    amqp_channel_open(p->conn, main_channel);
    if (auto c = p->check_rpc("channel.open"); !c) {
        return c.error();
    }
    return std::unique_ptr<connection>(new connection(std::move(p)));
}

const std::string& connection::node() const {
    return impl_->node;
}

int connection::fd() const {
    return amqp_get_sockfd(impl_->conn);
}

bool connection::has_buffered_input() const {
    return amqp_frames_enqueued(impl_->conn) != 0 || amqp_data_in_buffer(impl_->conn) != 0;
}

result<void> connection::declare_exchange(std::string_view name, std::string_view type, const field_table& arguments) {
    auto args = impl_->tables.build(arguments);
    amqp_exchange_declare(impl_->conn, main_channel, bytes_of(name), bytes_of(type), 0, 1, 0, 0, args);
    return impl_->check_rpc("exchange.declare " + std::string{name});
}

result<std::string> connection::declare_queue(std::string_view name, const queue_options& opts) {
    auto args = impl_->tables.build(opts.arguments);
    auto* okp = amqp_queue_declare(impl_->conn, main_channel, bytes_of(name), 0, opts.durable, opts.exclusive,
                                   opts.auto_delete, args);
    if (auto c = impl_->check_rpc("queue.declare " + std::string{name}); !c) {
        return c.error();
    }
    return to_string(okp->queue);
}

result<void> connection::declare_queue_kept(std::string_view name, const queue_options& opts) {
    amqp_channel_open(impl_->conn, scratch_channel);
    if (auto c = impl_->check_rpc("channel.open"); !c) {
        return c.error();
    }
    auto args = impl_->tables.build(opts.arguments);
    amqp_queue_declare(impl_->conn, scratch_channel, bytes_of(name), 0, opts.durable, opts.exclusive, opts.auto_delete,
                       args);
    auto r = amqp_get_rpc_reply(impl_->conn);
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        auto text = describe(r);
        auto code = static_cast<amqp_channel_close_t*>(r.reply.decoded)->reply_code;
        // The broker closed the scratch channel; acknowledge so it can be reused.
        amqp_channel_close_ok_t close_ok{};
        amqp_send_method(impl_->conn, scratch_channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok);
        if (code == AMQP_PRECONDITION_FAILED) {
            return fail("precondition_failed", "queue.declare " + std::string{name} + ": " + text);
        }
        return broker_error("queue.declare " + std::string{name} + ": " + text);
    }
    if (auto text = describe(r); !text.empty()) {
        return broker_error("queue.declare " + std::string{name} + ": " + text);
    }
    amqp_channel_close(impl_->conn, scratch_channel, AMQP_REPLY_SUCCESS);
    return ok();
}

result<void> connection::bind_queue(std::string_view queue, std::string_view exchange, std::string_view key) {
    amqp_queue_bind(impl_->conn, main_channel, bytes_of(queue), bytes_of(exchange), bytes_of(key), amqp_empty_table);
    return impl_->check_rpc("queue.bind " + std::string{queue});
}

result<void> connection::unbind_queue(std::string_view queue, std::string_view exchange, std::string_view key) {
    amqp_queue_unbind(impl_->conn, main_channel, bytes_of(queue), bytes_of(exchange), bytes_of(key), amqp_empty_table);
    return impl_->check_rpc("queue.unbind " + std::string{queue});
}

result<void> connection::bind_exchange(std::string_view destination, std::string_view source, std::string_view key) {
    amqp_exchange_bind(impl_->conn, main_channel, bytes_of(destination), bytes_of(source), bytes_of(key),
                       amqp_empty_table);
    return impl_->check_rpc("exchange.bind " + std::string{destination});
}

result<void> connection::set_prefetch(std::uint16_t count, bool shared) {
    amqp_basic_qos(impl_->conn, main_channel, 0, count, shared ? 1 : 0);
    return impl_->check_rpc("basic.qos");
}

result<void> connection::change_prefetch(std::uint16_t count, bool shared) {
    amqp_basic_qos_t m{};
    m.prefetch_count = count;
    m.global = shared ? 1 : 0;
    if (int rc = amqp_send_method(impl_->conn, main_channel, AMQP_BASIC_QOS_METHOD, &m); rc != AMQP_STATUS_OK) {
        return broker_error(std::string{"basic.qos failed: "} + amqp_error_string2(rc));
    }
    return ok();
}

result<std::string> connection::consume(std::string_view queue, bool no_ack) {
    auto* okp = amqp_basic_consume(impl_->conn, main_channel, bytes_of(queue), amqp_empty_bytes, 0, no_ack ? 1 : 0, 0,
                                   amqp_empty_table);
    if (auto c = impl_->check_rpc("basic.consume " + std::string{queue}); !c) {
        return c.error();
    }
    return to_string(okp->consumer_tag);
}

result<std::string> connection::consume_unlimited(std::string_view queue) {
    auto& d = *impl_;
    if (!d.unlimited_open) {
        amqp_channel_open(d.conn, unlimited_channel);
        if (auto c = d.check_rpc("channel.open"); !c) {
            return c.error();
        }
        d.unlimited_open = true;
    }
    auto* okp = amqp_basic_consume(d.conn, unlimited_channel, bytes_of(queue), amqp_empty_bytes, 0, /*no_ack=*/1, 0,
                                   amqp_empty_table);
    if (auto c = d.check_rpc("basic.consume " + std::string{queue}); !c) {
        return c.error();
    }
    d.unlimited_tags.push_back(to_string(okp->consumer_tag));
    return d.unlimited_tags.back();
}

result<void> connection::cancel(std::string_view tag) {
    auto& d = *impl_;
    auto unlimited = std::find(d.unlimited_tags.begin(), d.unlimited_tags.end(), tag);
    const amqp_channel_t channel = unlimited == d.unlimited_tags.end() ? main_channel : unlimited_channel;
    if (unlimited != d.unlimited_tags.end()) {
        d.unlimited_tags.erase(unlimited);
    }
    amqp_basic_cancel(d.conn, channel, bytes_of(tag));
    return d.check_rpc("basic.cancel " + std::string{tag});
}

result<void> connection::enable_confirms() {
    amqp_confirm_select(impl_->conn, main_channel);
    if (auto c = impl_->check_rpc("confirm.select"); !c) {
        return c;
    }
    impl_->confirms = true;
    impl_->next_publish_tag = 1;
    impl_->publish_channel = main_channel;
    impl_->publish_channel_base = 0;
    return ok();
}

result<std::uint64_t> connection::renew_publish_channel() {
    auto& d = *impl_;
    amqp_channel_t next = d.last_renewed;
    do {
        next = next >= last_renewed_channel || next < first_renewed_channel ? first_renewed_channel : next + 1;
    } while (std::any_of(d.renewed.begin(), d.renewed.end(), [next](const auto& r) { return r.number == next; }));
    amqp_channel_open(d.conn, next);
    if (auto c = d.check_rpc("channel.open"); !c) {
        return c.error();
    }
    amqp_confirm_select(d.conn, next);
    if (auto c = d.check_rpc("confirm.select"); !c) {
        return c.error();
    }
    d.renewed.push_back({d.publish_channel, d.publish_channel_base, d.next_publish_tag - 1});
    d.publish_channel = next;
    d.publish_channel_base = d.next_publish_tag - 1;
    d.last_renewed = next;
    return d.next_publish_tag;
}

result<void> connection::close_renewed_channels(std::uint64_t first_pending_tag) {
    auto& d = *impl_;
    for (auto it = d.renewed.begin(); it != d.renewed.end();) {
        if (it->last_tag >= first_pending_tag) {
            ++it;
            continue;
        }
        // main_channel carries the setup's declarations too: it is never closed before the
        // connection. Late confirms of a closed channel are dropped by next_event().
        if (it->number != main_channel) {
            amqp_channel_close(d.conn, it->number, AMQP_REPLY_SUCCESS);
            if (auto c = d.check_rpc("channel.close"); !c) {
                return c;
            }
        }
        it = d.renewed.erase(it);
    }
    return ok();
}

// A message is written as its three kinds of frame (basic.publish, the content header, the body
// in frames of at most frame_max) encoded into one reused buffer and handed to the kernel with
// one sendmsg(), not with amqp_basic_publish(), which makes a send() per frame (three for a
// token's message: two of every three syscalls of a publish, bench/RESULTS.md "One send per
// published message"). The encoders are rabbitmq-c's public ones (amqp_framing.h); the frame
// layout is AMQP 0-9-1's: type, channel, payload size, payload, 0xCE.
//
// What rabbitmq-c keeps about sending stays true:
// - It has no outbound buffer (each of its sends completes before it returns), and a message is
//   written whole here before publish() returns, so its own later frames (heartbeats, acks,
//   channel methods) never land inside one of ours. A write that fails half-way shuts the socket
//   down: nothing more may follow a partial frame (the connection is broken anyway).
// - Heartbeats: it sends one from next_event() when it has sent nothing for heartbeat/2, and it
//   does not see these writes. So a connection that only publishes this way still sends one in
//   time (its clock runs from its own last send, never later than ours); while publishes flow,
//   that is one 8-byte frame per heartbeat/2 more than needed (RabbitMQ counts any bytes
//   received as life), against two syscalls saved per message.
// - Confirms: delivery tags are counted by the broker per basic.publish, whoever wrote it.
// - Only plain TCP: parse_amqp_url() accepts amqp:// alone, so the socket is always
//   amqp_tcp_socket's, whose fd is the stream (TLS would need amqp_basic_publish back).
// - Its socket is non-blocking (amqp_open_socket_inner sets O_NONBLOCK). When the kernel's send
//   buffer is full, this waits for POLLOUT as rabbitmq-c does, and gives up as it would: when
//   nothing arrived from the broker for twice the heartbeat (rabbitmq-c's receive deadline;
//   counted here from the start of the wait, by the bytes waiting to be read).
result<std::uint64_t> connection::publish(const outgoing_message& m) {
    amqp_basic_properties_t p{};
    const auto& in = m.props;
    if (!in.message_id.empty()) {
        p._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
        p.message_id = bytes_of(in.message_id);
    }
    if (!in.correlation_id.empty()) {
        p._flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
        p.correlation_id = bytes_of(in.correlation_id);
    }
    if (!in.content_type.empty()) {
        p._flags |= AMQP_BASIC_CONTENT_TYPE_FLAG;
        p.content_type = bytes_of(in.content_type);
    }
    if (!in.type.empty()) {
        p._flags |= AMQP_BASIC_TYPE_FLAG;
        p.type = bytes_of(in.type);
    }
    if (!in.expiration.empty()) {
        p._flags |= AMQP_BASIC_EXPIRATION_FLAG;
        p.expiration = bytes_of(in.expiration);
    }
    if (in.priority) {
        p._flags |= AMQP_BASIC_PRIORITY_FLAG;
        p.priority = *in.priority;
    }
    p._flags |= AMQP_BASIC_DELIVERY_MODE_FLAG;
    p.delivery_mode = in.persistent ? 2 : 1;
    if (in.timestamp != 0) {
        p._flags |= AMQP_BASIC_TIMESTAMP_FLAG;
        p.timestamp = static_cast<std::uint64_t>(in.timestamp);
    }
    if (!in.headers.empty()) {
        p._flags |= AMQP_BASIC_HEADERS_FLAG;
        p.headers = impl_->tables.build(in.headers);
    }
    amqp_basic_publish_t method{};
    method.exchange = bytes_of(m.exchange);
    method.routing_key = bytes_of(m.routing_key);
    method.mandatory = m.mandatory ? 1 : 0;
    if (auto w = impl_->write_publish(method, p, m.body); !w) {
        return w.error();
    }
    return impl_->confirms ? impl_->next_publish_tag++ : 0;
}

result<void> connection::ack(std::uint64_t tag, bool multiple) {
    if (int rc = amqp_basic_ack(impl_->conn, main_channel, tag, multiple ? 1 : 0); rc != AMQP_STATUS_OK) {
        return broker_error(std::string{"basic.ack failed: "} + amqp_error_string2(rc));
    }
    return ok();
}

result<void> connection::reject(std::uint64_t tag, bool requeue) {
    if (int rc = amqp_basic_reject(impl_->conn, main_channel, tag, requeue ? 1 : 0); rc != AMQP_STATUS_OK) {
        return broker_error(std::string{"basic.reject failed: "} + amqp_error_string2(rc));
    }
    return ok();
}

result<queue_state> connection::inspect_queue(std::string_view name) {
    amqp_channel_open(impl_->conn, scratch_channel);
    if (auto c = impl_->check_rpc("channel.open"); !c) {
        return c.error();
    }
    auto* okp = amqp_queue_declare(impl_->conn, scratch_channel, bytes_of(name), 1, 0, 0, 0, amqp_empty_table);
    auto r = amqp_get_rpc_reply(impl_->conn);
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        // 404: the broker closed the scratch channel; acknowledge so it can be reused.
        amqp_channel_close_ok_t close_ok{};
        amqp_send_method(impl_->conn, scratch_channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok);
        return fail("not_found", "no queue '" + std::string{name} + "'");
    }
    if (auto text = describe(r); !text.empty()) {
        return broker_error("queue.declare passive: " + text);
    }
    queue_state st{okp->message_count, okp->consumer_count};
    amqp_channel_close(impl_->conn, scratch_channel, AMQP_REPLY_SUCCESS);
    return st;
}

// A message's content (header and body frames) is read frame by frame as it arrives, beside
// other channels' frames, not with amqp_read_message(): that one blocks until the whole content
// is in, and callocs (zeroing) a 4 KiB pool for each message's properties and mallocs its body,
// only for both to be copied into our strings again; here the body is copied once. A message
// whose content is not all in yet waits in impl::partial for a later call (monostate now), and
// with a `timeout` the wait restarts with each frame read.
result<event> connection::next_event(std::chrono::milliseconds timeout) {
    auto* c = impl_->conn;
    amqp_maybe_release_buffers(c);
    std::erase_if(impl_->partial, [](const impl::partial_content& p) { return p.taken; });
    for (;;) {
        timeval tv{static_cast<time_t>(timeout.count() / 1000),
                   static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
        amqp_frame_t frame{};
        int rc = amqp_simple_wait_frame_noblock(c, &frame, &tv);
        if (rc == AMQP_STATUS_TIMEOUT) {
            return event{};
        }
        if (rc != AMQP_STATUS_OK) {
            return broker_error(std::string{"connection lost: "} + amqp_error_string2(rc));
        }
        if (frame.frame_type == AMQP_FRAME_HEADER || frame.frame_type == AMQP_FRAME_BODY) {
            auto complete = impl_->take_content(frame);
            if (!complete) {
                return complete.error();
            }
            if (auto* p = complete.value(); p != nullptr) {
                p->taken = true;
                return std::move(p->message);
            }
            continue;  // more of it to come (usually already buffered)
        }
        if (frame.frame_type != AMQP_FRAME_METHOD) {
            return event{};
        }
        switch (frame.payload.method.id) {
            case AMQP_BASIC_DELIVER_METHOD: {
                auto* d = static_cast<amqp_basic_deliver_t*>(frame.payload.method.decoded);
                auto out = impl_->begin_content<delivery>(frame.channel);
                if (!out) {
                    return out.error();
                }
                delivery& m = *out.value();
                m.delivery_tag = d->delivery_tag;
                m.redelivered = d->redelivered != 0;
                m.consumer_tag = to_string(d->consumer_tag);
                m.exchange = to_string(d->exchange);
                m.routing_key = to_string(d->routing_key);
                continue;
            }
            case AMQP_BASIC_ACK_METHOD: {
                auto* a = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
                auto tag = impl_->tag_of(frame.channel, a->delivery_tag);
                return tag == 0 ? event{} : event{confirm{tag, a->multiple != 0, true}};
            }
            case AMQP_BASIC_NACK_METHOD: {
                auto* n = static_cast<amqp_basic_nack_t*>(frame.payload.method.decoded);
                auto tag = impl_->tag_of(frame.channel, n->delivery_tag);
                return tag == 0 ? event{} : event{confirm{tag, n->multiple != 0, false}};
            }
            case AMQP_BASIC_RETURN_METHOD: {
                auto* rt = static_cast<amqp_basic_return_t*>(frame.payload.method.decoded);
                auto out = impl_->begin_content<returned_message>(frame.channel);
                if (!out) {
                    return out.error();
                }
                returned_message& m = *out.value();
                m.reply_code = rt->reply_code;
                m.reply_text = to_string(rt->reply_text);
                m.exchange = to_string(rt->exchange);
                m.routing_key = to_string(rt->routing_key);
                continue;
            }
            case AMQP_CHANNEL_CLOSE_METHOD: {
                auto* m = static_cast<amqp_channel_close_t*>(frame.payload.method.decoded);
                return broker_error("channel closed by broker: " + std::to_string(m->reply_code) + " " +
                                    to_string(m->reply_text));
            }
            case AMQP_CONNECTION_CLOSE_METHOD: {
                auto* m = static_cast<amqp_connection_close_t*>(frame.payload.method.decoded);
                return broker_error("connection closed by broker: " + std::to_string(m->reply_code) + " " +
                                    to_string(m->reply_text));
            }
            case AMQP_BASIC_CANCEL_METHOD:
                return broker_error("consumer cancelled by broker (queue deleted?)");
            default:
                return event{};
        }
    }
}

}  // namespace llmp::broker
