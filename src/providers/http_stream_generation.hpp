#pragma once
// http_stream_generation: what every generation that streams from an HTTP upstream shares (the
// Ollama NDJSON and the OpenAI SSE providers): one strand and one pooled exchange; start() runs
// the stream there with a net for exceptions; cancel() is posted there and closes the exchange;
// and the read loop — send, a non-200 answer read whole and turned into the format's error, body
// pieces fed to the format until it has seen its end marker, then the rest of the body drained
// briefly so the connection can go back to the pool. A subclass supplies the wire format only.
//
// Threading: everything but start() and cancel() runs on the strand.

#include "common/asio_fwd.hpp"
#include "common/result.hpp"
#include "http/client.hpp"
#include "providers/provider.hpp"

#include <boost/asio/strand.hpp>

#include <memory>
#include <string>
#include <string_view>

namespace llmp::providers {

/// A client failure (connect, timeouts, a closed stream) as a provider error; `peer` names the
/// upstream in the closed-stream message ("Ollama", "the upstream").
error upstream_failure(const error& e, std::string_view peer);

/// What an HTTP provider whose configuration is unusable (a bad URL) starts instead: a
/// generation that ends at once with `e`, on a strand of `ex` (never from inside start()).
std::shared_ptr<generation> failed_generation(const net::any_io_executor& ex, error e, generation_callbacks cb);

class http_stream_generation : public generation, public std::enable_shared_from_this<http_stream_generation> {
public:
    void start();
    void cancel() override;

protected:
    /// `provider` names it in logs ("ollama"); `peer` in messages ("Ollama").
    http_stream_generation(std::shared_ptr<const http_client::client> c, net::any_io_executor ex,
                           std::string request_id, std::string provider, std::string peer, generation_callbacks cb);

    // The wire format (called on the strand).
    virtual http_client::outgoing_request make_request() = 0;
    /// A non-200 answer; `body` is at most 64 KiB of it (empty if unreadable).
    virtual error status_error(const http_client::response_head& head, std::string_view body) = 0;
    /// Parses the next piece of the body: emit_token() for text, end_seen_ = true at the end
    /// marker, finish_error() for an error the upstream sent. An error result ends the stream.
    virtual result<void> feed(std::string_view piece) = 0;
    /// The body ended before the end marker (end_seen_ false): complete or fail.
    virtual void body_ended() = 0;
    /// The completion to report, once, when the generation completes.
    virtual completion take_completion() = 0;

    /// "<peer> at <url>", for messages.
    std::string where() const;
    void emit_token(std::string_view delta);
    /// A delta of choice `index` >= 1 (n > 1).
    void emit_choice_token(int index, std::string_view delta);
    void finish_complete();
    void finish_error(error e);

    std::shared_ptr<const http_client::client> client_;
    std::string request_id_;
    std::int64_t deltas_ = 0;
    bool end_seen_ = false;  ///< the format's end marker (done:true, [DONE]) was read
    bool cancel_requested_ = false;
    bool finished_ = false;

private:
    static net::awaitable<void> run(std::shared_ptr<http_stream_generation> self);
    net::awaitable<void> stream();
    void finish_cancelled();

    std::string provider_;
    std::string peer_;
    net::strand<net::any_io_executor> strand_;
    std::unique_ptr<http_client::exchange> exchange_;
    generation_callbacks cb_;
};

}  // namespace llmp::providers
