#include "worker/generation_task.hpp"

#include "broker/topology.hpp"
#include "common/clock.hpp"
#include "providers/upstream_policy.hpp"
#include "worker/logger.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <exception>

namespace llmp::worker {
generation_task::generation_task(task_host& host, request_message req, task_origin origin)
    : host_{host}, req_{std::move(req)}, origin_{origin} {}

void generation_task::start() {
    try {
        start_unguarded();
    } catch (const std::exception& e) {
        internal_failure(e.what());
    }
}

template <class F>
void generation_task::guarded(F&& f) {
    try {
        f();
    } catch (const std::exception& e) {
        internal_failure(e.what());
    }
}

void generation_task::internal_failure(std::string_view what) {
    worker::logger()->error(
        "msg=\"generation threw; ending it with internal_error\" request_id={} model={} error=\"{}\"", req_.request_id,
        req_.model, what);
    if (gen_) {
        gen_->cancel();  // its own end (cancelled) is ignored: this task has ended below
    }
    if (!answered_) {
        ended_ = false;  // it threw while ending, before its answer was handed to the publisher
    }
    on_error({"internal_error", "the worker failed on this request (" + std::string{what} + ")", false});
}

void generation_task::start_unguarded() {
    t0_ = std::chrono::steady_clock::now();
    auto g = providers::generation_request_of(req_);
    // What the client may ask of the upstream, and the generation length cap, decided once here
    // for every provider.
    const bool mock = host_.provider().name() == "mock";
    if (auto r = providers::apply_upstream_policy(g, host_.settings().policy, mock); !r) {
        fail(r.error());
        return;
    }
    // Weak: the task owns the generation (gen_), and the worker's task table keeps the task
    // alive until its answer is acked; a strong capture here would be a reference cycle.
    std::weak_ptr<generation_task> weak = shared_from_this();
    providers::generation_callbacks cb{
        [weak](std::string_view delta) {
            if (auto self = weak.lock()) {
                self->guarded([&] { self->on_token(delta); });
            }
        },
        [weak](providers::completion c) {
            if (auto self = weak.lock()) {
                self->guarded([&] { self->on_complete(std::move(c)); });
            }
        },
        [weak](error e) {
            if (auto self = weak.lock()) {
                self->guarded([&] { self->on_error(std::move(e)); });
            }
        },
    };
    if (const int n = providers::choices_wanted(g); n > 1) {
        choice_texts_.resize(static_cast<std::size_t>(n - 1));
        cb.on_choice_token = [weak](int index, std::string_view delta) {
            if (auto self = weak.lock()) {
                self->guarded([&] { self->on_choice_token(index, delta); });
            }
        };
    }
    gen_ = host_.provider().start(g, std::move(cb));
}

void generation_task::cancel(std::string_view why) {
    worker::logger()->info("msg=\"cancelling generation\" request_id={} reason=\"{}\"", req_.request_id, why);
    if (gen_) {
        gen_->cancel();
    }
}

void generation_task::abandon(std::string_view why) {
    abandoned_ = true;
    cancel(why);
}

void generation_task::on_choice_token(int index, std::string_view delta) {
    if (index < 1 || static_cast<std::size_t>(index) > choice_texts_.size()) {
        return;  // not a choice the request asked for
    }
    publish_token(index, delta);
}

void generation_task::publish_token(int choice, std::string_view delta) {
    if (ended_ || delta.empty() || abandoned_) {
        return;
    }
    if (ttft_ms_ < 0) {
        ttft_ms_ = ms_since(t0_);
        if (metrics_) {
            metrics_->ttft->observe(ttft_ms_ / 1000.0);
        }
    }
    ++tokens_;
    if (metrics_) {
        metrics_->tokens->inc();
    }
    if (choice == 0) {
        text_.append(delta);
    } else {
        choice_texts_[static_cast<std::size_t>(choice) - 1].append(delta);
    }
    const auto& settings = host_.settings();
    broker::publish_job job;
    if (settings.multiplex_chunks) {
        // A frame of the next message to this API server (broker/chunk_mux.hpp). The
        // destination, headers and request id are made once per stream and shared by its
        // chunks: a token costs its text, not five strings and a header table.
        if (!chunk_stream_) {
            auto head = std::make_shared<broker::outgoing_message>();
            head->exchange = settings.responses_exchange;
            head->routing_key = broker::chunks_key(req_.server_id);
            head->mandatory = true;  // the API server is gone -> returned -> we stop
            head->props.correlation_id = req_.request_id;
            head->props.headers = {{"worker", settings.worker_id}};
            chunk_stream_ = std::move(head);
        }
        job.multiplex = true;
        job.seq = tokens_;
        job.attempt = origin_.attempt;
        job.choice = choice;
        job.stream = chunk_stream_;
    } else {
        job.msg.exchange = settings.responses_exchange;
        job.msg.mandatory = true;  // the API server is gone -> returned -> we stop
        job.msg.props.correlation_id = req_.request_id;
        job.coalesce = true;
        job.msg.routing_key = broker::chunk_key(req_.server_id);
        job.msg.props.headers = {{"seq", tokens_}, {"worker", settings.worker_id}, {"attempt", origin_.attempt}};
        if (choice != 0) {
            job.msg.props.headers.emplace_back("choice", std::int64_t{choice});
        }
    }
    job.msg.body.assign(delta);
    if (!host_.publish(std::move(job))) {
        // The publish queue is full: a gap in the stream would corrupt the answer, so stop.
        cancel("publish queue full");
    }
}

void generation_task::on_complete(providers::completion c) {
    if (ended_) {
        return;
    }
    generation_over();
    if (abandoned_) {
        ended_ = true;
        if (metrics_) {
            metrics_->ended(generation_outcome::abandoned);
        }
        host_.task_ended(*this, tokens_);
        return;
    }
    ended_ = true;
    if (metrics_) {
        metrics_->ended(generation_outcome::completed);
        metrics_->duration->observe(ms_since(t0_) / 1000.0);
    }
    final_message f;
    f.done_reason = c.done_reason;
    f.text = std::move(text_);
    f.prompt_tokens = c.prompt_tokens;
    f.completion_tokens = c.completion_tokens > 0 ? c.completion_tokens : tokens_;
    f.duration_ms = ms_since(t0_);
    f.ttft_ms = ttft_ms_ < 0 ? f.duration_ms : ttft_ms_;
    auto eval_count = c.provider_metrics.value("eval_count", std::int64_t{0});
    auto eval_ns = c.provider_metrics.value("eval_duration", std::int64_t{0});
    if (eval_count > 0 && eval_ns > 0) {
        f.tokens_per_s = static_cast<double>(eval_count) * 1e9 / static_cast<double>(eval_ns);
    } else {
        double gen_ms = f.duration_ms - f.ttft_ms;
        double base_ms = f.completion_tokens > 1 && gen_ms > 0 ? gen_ms : f.duration_ms;
        auto counted = f.completion_tokens > 1 && gen_ms > 0 ? f.completion_tokens - 1 : f.completion_tokens;
        f.tokens_per_s = base_ms > 0 ? static_cast<double>(counted) * 1000.0 / base_ms : 0;
    }
    f.worker_id = host_.settings().worker_id;
    f.provider = std::string{host_.provider().name()};
    f.model = req_.model;
    f.provider_metrics = std::move(c.provider_metrics);
    if (c.tool_calls.is_array() && !c.tool_calls.empty()) {
        // One name for it whatever the upstream said (Ollama says "stop"); the front doors
        // render it in their own terms.
        f.tool_calls = std::move(c.tool_calls);
        f.done_reason = "tool_calls";
    }
    if (c.embeddings.is_array() && !c.embeddings.empty()) {
        f.embeddings = std::move(c.embeddings);
    }
    if (c.logprobs.is_array() && !c.logprobs.empty()) {
        f.logprobs = std::move(c.logprobs);
    }
    if (!choice_texts_.empty()) {
        // n > 1: every choice asked for, with the text this task relayed for it (a choice the
        // upstream did not report ends as "stop").
        f.choices.resize(choice_texts_.size());
        for (std::size_t i = 0; i < choice_texts_.size(); ++i) {
            f.choices[i].index = static_cast<int>(i) + 1;
            f.choices[i].text = std::move(choice_texts_[i]);
        }
        for (auto& reported : c.choices) {
            if (reported.index < 1 || static_cast<std::size_t>(reported.index) > f.choices.size()) {
                continue;
            }
            auto& out = f.choices[static_cast<std::size_t>(reported.index) - 1];
            out.done_reason = std::move(reported.done_reason);
            if (reported.tool_calls.is_array() && !reported.tool_calls.empty()) {
                out.tool_calls = std::move(reported.tool_calls);
                out.done_reason = "tool_calls";
            }
            out.logprobs = std::move(reported.logprobs);
        }
    }
    f.completed_at_ms = unix_ms();
    copy_request_fields(req_, f);
    publish_last(broker::final_key(req_.server_id), encode(f), 1);
}

void generation_task::on_error(error e) {
    if (ended_) {
        return;
    }
    generation_over();
    ended_ = true;
    if (metrics_) {
        metrics_->ended(abandoned_              ? generation_outcome::abandoned
                        : rejected_             ? generation_outcome::rejected
                        : e.code == "cancelled" ? generation_outcome::cancelled
                                                : generation_outcome::error);
    }
    if (abandoned_) {
        host_.task_ended(*this, tokens_);
        return;
    }
    worker::logger()->info("msg=\"generation failed\" request_id={} model={} code={} error=\"{}\"", req_.request_id,
                           req_.model, e.code, e.message);
    error_message m{e.code, e.message, e.retryable, host_.settings().worker_id};
    m.completed_at_ms = unix_ms();
    m.partial_text = std::move(text_);
    m.completion_tokens = tokens_;
    m.duration_ms = ms_since(t0_);
    m.ttft_ms = ttft_ms_ < 0 ? 0 : ttft_ms_;
    m.provider = std::string{host_.provider().name()};
    m.model = req_.model;
    copy_request_fields(req_, m);
    publish_last(broker::error_key(req_.server_id), encode(m), 1);
}

void generation_task::generation_over() {
    if (!generation_over_.exchange(true)) {
        host_.generation_ended(origin_);
    }
}

void generation_task::publish_last(std::string routing_key, std::string body, int attempt) {
    broker::publish_job job;
    job.msg.exchange = host_.settings().responses_exchange;
    job.msg.routing_key = routing_key;
    job.msg.mandatory = true;
    job.msg.props.persistent = true;  // its audit copy must survive a broker restart
    job.msg.props.content_type = "application/json";
    job.msg.props.correlation_id = req_.request_id;
    job.msg.props.message_id = req_.request_id;
    job.msg.props.headers = {{"seq", tokens_}, {"worker", host_.settings().worker_id}};
    job.msg.body = body;
    answered_ = true;
    auto self = shared_from_this();
    auto retry = [self, routing_key, body, attempt]() mutable {
        if (attempt >= self->host_.settings().final_publish_attempts) {
            // Hand the request back: another attempt will regenerate it.
            worker::logger()->error("msg=\"cannot publish the final message, requeueing\" request_id={}",
                                    self->req_.request_id);
            self->host_.requeue(self->origin_);
            self->host_.task_ended(*self, self->tokens_);
            return;
        }
        auto timer =
            std::make_shared<net::steady_timer>(self->host_.executor(), self->host_.settings().final_retry_delay);
        timer->async_wait([self, timer, routing_key = std::move(routing_key), body = std::move(body),
                           attempt](boost::system::error_code) mutable {
            self->publish_last(std::move(routing_key), std::move(body), attempt + 1);
        });
    };
    job.done = [self, retry](broker::publish_status s) mutable {
        if (s == broker::publish_status::confirmed) {
            // The task counts as in flight until here, so a draining worker stops only after
            // its last answers are confirmed and their requests acked.
            self->host_.ack(self->origin_);
            self->host_.task_ended(*self, self->tokens_);
        } else {
            net::post(self->host_.executor(), std::move(retry));
        }
    };
    if (!host_.publish(std::move(job))) {
        net::post(host_.executor(), std::move(retry));
    }
}

}  // namespace llmp::worker
