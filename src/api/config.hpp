#pragma once
// API server configuration. Filled by programs/api.cpp from flags and LLMPROXY_* variables.

#include "api/model_aliases.hpp"
#include "broker/config.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace llmp::api {

/// The relay's own clock (not flags: relay_test shortens them to milliseconds).
struct relay_intervals {
    /// How often a waiting stream re-checks its worker and deadline.
    std::chrono::milliseconds check_interval{500};
    /// A stream whose worker has not been heard from for this long — no chunk on the stream and
    /// no heartbeat — has lost it (heartbeats come every 2 s; a worker killed with -9 says
    /// nothing). Chunks count: right after a broker restart a worker streams before its first
    /// heartbeat reaches this server again.
    std::chrono::milliseconds worker_silence_limit{4500};
    /// An SSE comment this often keeps idle connections (and proxies) open while a model loads.
    std::chrono::milliseconds keepalive_interval{15000};
    /// How long the broker may take to confirm a request before the client gets 503.
    std::chrono::milliseconds publish_confirm_timeout{30000};
};

/// Who may use the API (api/auth.hpp).
enum class auth_mode { none, keys };

struct api_config {
    broker::broker_config broker;
    /// Address and port to listen on (port 0 = pick a free one; the log says which). Loopback
    /// by default: serving other hosts is an explicit choice (--listen 0.0.0.0).
    std::string listen_address = "127.0.0.1";
    std::uint16_t port = 8080;
    /// I/O threads running the io_context.
    int io_threads = 2;
    /// Largest accepted request body.
    std::uint64_t body_limit = 1 << 20;
    /// Largest body of the routes that take images or embedding batches (chat, generate,
    /// embeddings at every door; images come base64-encoded in the JSON); 0 = body_limit.
    /// Raise it for vision models (e.g. 10 MiB) without raising it for every other route.
    std::uint64_t media_body_limit = 0;
    /// Let clients send http(s) image URLs (the upstream fetches them); else 400 at once
    /// (api/image_inputs.hpp).
    bool allow_remote_images = false;
    /// Longest wait for the next event of a stream (first token included) before it ends
    /// with error "timeout".
    std::chrono::milliseconds stream_idle_timeout{300000};
    /// The longest this server stays silent towards the audit: delivery confirmations go out
    /// within broker_request_publisher::confirm_gap (10 ms), an empty one (the keep-alive)
    /// after this long without any (api/delivery_confirmer.hpp). 0 = never confirm: the
    /// audit then keeps the workers' reports of this server's requests as they are (what an
    /// older server gets), and never judges this server lost.
    std::chrono::milliseconds delivery_confirm_interval{500};
    /// Per-request deadline, carried to the worker (message expiration). 0 = none.
    std::chrono::milliseconds request_timeout{600000};
    /// Largest deadline a client may ask for (X-Request-Timeout-Ms, body timeout_ms; 400
    /// beyond). At most 2^32-1: it becomes the AMQP message expiration.
    std::chrono::milliseconds max_request_timeout{3600000};
    /// Undelivered text one stream may hold for a slow client before it is cut off.
    std::size_t max_stream_buffer = 4 << 20;
    /// A response write that makes no progress this long ends the stream (client_too_slow).
    std::chrono::milliseconds write_timeout{10000};
    /// How long a request's head and body may take to arrive (slowloris bound).
    std::chrono::milliseconds read_timeout{20000};
    /// How long an idle keep-alive connection may wait for its next request.
    std::chrono::milliseconds idle_timeout{60000};
    /// Connections open at once; past it a new connection gets 503 and is closed. 0 = no cap.
    /// Above max_streams, so that a server holding its full 10,000 streams (~8 KiB each, issue
    /// 13 item 5) still answers probes, /metrics and plain requests.
    std::int64_t max_connections = 12000;
    /// Connections open at once from one client address (429 past it). 0 = no cap: behind a
    /// reverse proxy every client has the proxy's address.
    std::int64_t max_connections_per_ip = 0;
    /// Open streams this server holds at most; past it new requests get 503. 0 = no limit.
    std::int64_t max_streams = 10000;
    /// Requests waiting to be published; past it new requests get 503.
    std::size_t max_pending_publishes = 10000;
    /// A worker whose heartbeat is older than this drops out of /api/models (3 heartbeats).
    std::chrono::milliseconds worker_ttl{6000};
    /// How long SIGTERM waits for open streams before cutting them off.
    std::chrono::milliseconds drain_timeout{10000};
    /// Unique id of this server (a routing-key word); empty = generated.
    std::string server_id;
    /// Public model names mapped to served models (--model-alias ALIAS=MODEL), resolved at admission.
    model_aliases aliases;
    relay_intervals relay;
    /// none: anyone who reaches the port may use it (the default: scripts/up and existing
    /// deployments keep working); keys: `Authorization: Bearer <key>` on every route but
    /// /healthz, /readyz and /metrics (api/auth.hpp).
    auth_mode auth = auth_mode::none;
    /// Where the keys are (auth keys), and the stored responses (responses_db).
    std::string database_url;
    /// Read stored responses back from database_url, the audit's database (the Responses API:
    /// previous_response_id, GET/DELETE /v1/responses/{id}; api/responses_store.hpp).
    bool responses_db = false;
    /// Lift the requests of a key below its fair share of this server's open streams one
    /// priority level (api/fair_share.hpp). Only with auth keys: without keys there is one client.
    bool fair_share = true;
    /// How often the usable keys are reloaded: a revoked key works at most this long after.
    std::chrono::milliseconds key_refresh_interval{1000};
    /// Where the per-key limit counters are shared by every API server (redis://host:port[/db]);
    /// empty = each server counts its own (a key's limit then holds per server).
    std::string redis_url;
    /// Connect and command timeout of Redis: slower than this, it counts as down and limits are
    /// counted in this process until it is back.
    std::chrono::milliseconds redis_timeout{250};
    /// The "minute" of the per-minute limits (only tests change it: a hidden flag).
    std::chrono::milliseconds limit_window{60000};
};

}  // namespace llmp::api
