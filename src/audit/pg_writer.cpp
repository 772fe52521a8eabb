#include "audit/pg_writer.hpp"

#include "audit/api_loss.hpp"
#include "audit/audit_metrics.hpp"
#include "audit/copy_format.hpp"
#include "audit/logger.hpp"
#include "pg/connection.hpp"
#include "pg/migrations.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <map>

namespace llmp::audit {
namespace {

std::string request_id_of(const broker::delivery& d) {
    return !d.props.message_id.empty() ? d.props.message_id : d.props.correlation_id;
}

}  // namespace

pg_writer::pg_writer(const audit_config& cfg, intake& in, writer_hooks hooks)
    : cfg_{cfg},
      in_{in},
      hooks_{std::move(hooks)},
      batcher_{static_cast<std::size_t>(cfg.batch_rows), cfg.batch_time},
      backoff_{cfg.retry_min} {}

pg_writer::~pg_writer() {
    stop();
}

void pg_writer::start() {
    thread_ = std::thread{[this] { run(); }};
}

void pg_writer::stop() {
    if (!thread_.joinable()) {
        return;
    }
    stop_deadline_ns_ = (steady::now() + cfg_.drain_timeout).time_since_epoch().count();
    stopping_ = true;
    in_.close();
    { llmp::lock_guard lock{pause_mu_}; }
    pause_cv_.notify_all();
    in_.wake();
    thread_.join();
}

bool pg_writer::give_up() const {
    return stopping_ && steady::now().time_since_epoch().count() > stop_deadline_ns_.load();
}

void pg_writer::pause(std::chrono::milliseconds d) {
    llmp::unique_lock lock{pause_mu_};
    auto until = steady::now() + d;
    if (stopping_) {
        until = std::min(until, steady::time_point{steady::duration{stop_deadline_ns_.load()}});
    }
    pause_cv_.wait_until(lock.native(), until);
}

writer_stats pg_writer::stats() const {
    llmp::lock_guard lock{stats_mu_};
    auto s = stats_;
    s.lag_p50_ms = lag_.quantile(0.50);
    s.lag_p99_ms = lag_.quantile(0.99);
    s.lag_max_ms = lag_.quantile(1.0);
    return s;
}

void pg_writer::reset_lag() {
    llmp::lock_guard lock{stats_mu_};
    lag_.clear();
}

void pg_writer::set_state(db_state s, const std::string& why) {
    if (s == state_) {
        return;
    }
    auto log = logger();
    if (s == db_state::down) {
        log->warn("msg=\"PostgreSQL unavailable; ingest paused, messages wait in the audit queues\" error=\"{}\"", why);
    } else if (state_ == db_state::down) {
        log->info("msg=\"PostgreSQL available again; ingest resumed\"");
    } else {
        log->info("msg=\"connected to PostgreSQL\"");
    }
    state_ = s;
    if (hooks_.metrics) {
        hooks_.metrics->database_up.set(s == db_state::up ? 1 : 0);
    }
    llmp::lock_guard lock{stats_mu_};
    stats_.db_up = s == db_state::up;
}

result<void> pg_writer::ensure_connected() {
    if (conn_ && conn_->healthy()) {
        return ok();
    }
    conn_.reset();
    auto c = pg::connection::open(cfg_.database_url, cfg_.connect_timeout_s, "llmproxy audit");
    if (!c) {
        set_state(db_state::down, c.error().message);
        return c.error();
    }
    auto& conn = *c.value();
    auto applied = pg::migrate(conn);
    if (!applied) {
        set_state(db_state::down, applied.error().message);
        return applied.error();
    }
    if (auto r = conn.exec(copy_format::create_staging_sql); !r) {
        set_state(db_state::down, r.error().message);
        return r;
    }
    conn_ = std::move(c.value());
    set_state(db_state::up, "");
    return ok();
}

void pg_writer::run() {
    auto log = logger();
    try {
        (void)ensure_connected();  // migrations at start; failures are retried per batch
        std::vector<intake_item> items;
        std::vector<worker_heartbeat> heartbeats;
        while (true) {
            if (!stopping_ && !batcher_.due(steady::now())) {
                auto until = batcher_.deadline();
                if (!until && cfg_.api_lost_after.count() > 0) {
                    until = steady::now() + std::chrono::seconds{1};  // idle: the judgement still runs
                }
                in_.wait(until, batcher_.empty() ? 1 : batcher_.room());
            }
            items.clear();
            heartbeats.clear();
            in_.pop(items, batcher_.room(), heartbeats);
            auto now = steady::now();
            for (auto& it : items) {
                if (auto* d = std::get_if<dead_item>(&it)) {
                    settle_dead(*d);
                } else {
                    note_row(std::get<pending_row>(it));
                    batcher_.add(std::move(std::get<pending_row>(it)), now);
                }
            }
            for (auto& hb : heartbeats) {
                batcher_.add_heartbeat(std::move(hb), now);
            }
            if (batcher_.due(now) || (stopping_ && !batcher_.empty())) {
                auto b = batcher_.take();
                behind_ = b.rows.size() >= batcher_.room() || in_.size() > 0;
                if (!write_until_done(b)) {
                    break;
                }
                maybe_judge_api_loss(b.rows.size() < batcher_.room() && in_.size() == 0);
            } else if (stopping_ && in_.size() == 0) {
                break;
            } else if (batcher_.empty() && in_.size() == 0) {
                behind_ = false;
                maybe_judge_api_loss(/*caught_up=*/true);
            }
            maybe_log_stats();
        }
    } catch (const std::exception& e) {
        // Nothing unacked is lost (the broker requeues it); a supervisor restarts us.
        log->critical("msg=\"audit writer failed\" error=\"{}\"", e.what());
        std::abort();
    }
    conn_.reset();
}

void pg_writer::settle_dead(dead_item& d) {
    logger()->error("msg=\"audit message dead-lettered\" exchange={} routing_key={} request_id={} reason=\"{}\"",
                    d.original.exchange, d.original.routing_key, request_id_of(d.original), d.reason);
    bool published = hooks_.dead_letter && hooks_.dead_letter(d.original, d.reason);
    if (published) {
        hooks_.ack_one(d.ack);
    } else {
        hooks_.reject_one(d.ack);
    }
    if (hooks_.metrics) {
        hooks_.metrics->dead_letters.inc();
    }
    llmp::lock_guard lock{stats_mu_};
    ++stats_.dead_lettered;
}

result<void> pg_writer::write_once(const std::vector<pending_row*>& rows, const std::vector<worker_heartbeat>& workers,
                                   write_path path) {
    auto& c = *conn_;
    if (auto r = c.exec("BEGIN"); !r) {
        return r;
    }
    auto fail_tx = [&c](error e) -> result<void> {
        (void)c.exec("ROLLBACK");
        return e;
    };
    bool any[3] = {false, false, false};
    auto t_copy = steady::now();
    for (std::size_t kind = 0; kind < 3; ++kind) {
        copy_buf_.clear();
        for (const auto* p : rows) {
            if (p->rec.index() != kind) {
                continue;
            }
            any[kind] = true;
            std::visit(
                [this](const auto& v) {
                    using T = std::decay_t<decltype(v)>;
                    if constexpr (!std::is_same_v<T, worker_heartbeat> && !std::is_same_v<T, delivery_confirmation>) {
                        copy_format::append_row(copy_buf_, v);
                    }
                },
                p->rec);
        }
        if (!any[kind]) {
            continue;
        }
        const auto& sql = copy_format::statements(kind);
        if (auto r = c.copy_in(path == write_path::direct ? sql.copy : sql.copy_staging, copy_buf_); !r) {
            return fail_tx(r.error());
        }
    }
    auto t_insert = steady::now();
    for (std::size_t kind = 0; kind < 3; ++kind) {
        if (any[kind] && path == write_path::staged) {
            if (auto r = c.exec(copy_format::statements(kind).insert_from_staging); !r) {
                return fail_tx(r.error());
            }
        }
    }
    for (const auto* p : rows) {
        if (const auto* dc = std::get_if<delivery_confirmation>(&p->rec)) {
            auto r = c.query(api_loss::record_confirmation_sql, {dc->server_id, std::to_string(dc->sent_at_ms),
                                                                 std::string{dc->leaving ? "true" : "false"},
                                                                 api_loss::text_array_literal(dc->request_ids)});
            if (!r) {
                return fail_tx(r.error());
            }
        }
    }
    for (const auto& hb : workers) {
        auto r = c.query(
            copy_format::upsert_worker_sql,
            {hb.worker_id, hb.host, hb.provider, nlohmann::json(hb.models).dump(), std::to_string(hb.concurrency),
             std::to_string(hb.in_flight), std::to_string(std::isfinite(hb.tokens_per_s) ? hb.tokens_per_s : 0.0),
             std::to_string(hb.requests_total), std::to_string(hb.tokens_total), std::to_string(hb.sent_at_ms),
             std::string{hb.leaving ? "true" : "false"}});
        if (!r) {
            return fail_tx(r.error());
        }
    }
    auto t_commit = steady::now();
    auto r = c.exec("COMMIT");
    llmp::lock_guard lock{stats_mu_};
    stats_.copy_ms += std::chrono::duration<double, std::milli>(t_insert - t_copy).count();
    stats_.insert_ms += std::chrono::duration<double, std::milli>(t_commit - t_insert).count();
    stats_.commit_ms += ms_since(t_commit);
    return r;
}

namespace {

/// The database, not the batch, is at fault (down, restarting, out of resources, a schema or a
/// privilege missing): keep the batch and retry; never dead-letter for it.
bool holds_batch(const error& e) {
    return e.code == pg::unavailable || e.code == pg::schema_error;
}

}  // namespace

bool pg_writer::write_until_done(batch& b) {
    std::vector<pending_row*> rows;
    rows.reserve(b.rows.size());
    for (auto& r : b.rows) {
        rows.push_back(&r);
    }
    int refusals = 0;  // failures of this batch that the database's state does not explain
    while (true) {
        if (give_up()) {
            logger()->warn("msg=\"stopping with rows unwritten; they stay in the audit queues\" rows={}",
                           b.rows.size());
            return false;
        }
        if (auto c = ensure_connected(); !c) {
            pause(backoff_);
            backoff_ = std::min(backoff_ * 2, cfg_.retry_max);
            continue;
        }
        auto t0 = steady::now();
        auto r = write_once(rows, b.workers, write_path::direct);
        if (!r && r.error().code == pg::data_error) {
            // Most often a request id already stored (a redelivery after a crash or a lost
            // ack): the staged path skips those rows. A row refused for its own data fails
            // again there and is then isolated below.
            ++refusals;
            r = write_once(rows, b.workers, write_path::staged);
            llmp::lock_guard lock{stats_mu_};
            ++stats_.staged_batches;
        }
        {
            llmp::lock_guard lock{stats_mu_};
            stats_.write_ms += ms_since(t0);
        }
        if (r) {
            backoff_ = cfg_.retry_min;
            committed(rows, b.workers.size());
            for (auto a : b.acks) {
                hooks_.ack_through(a);
            }
            return true;
        }
        count_failure();
        if (holds_batch(r.error())) {
            conn_.reset();
            set_state(db_state::down, r.error().message);
            pause(backoff_);
            backoff_ = std::min(backoff_ * 2, cfg_.retry_max);
            continue;
        }
        // Refused for what it holds, or for a reason that may pass (a timeout, a lock): once is
        // chance, twice is a row PostgreSQL will not take (54001 for a jsonb nested too deep
        // would otherwise stall the audit queues for good). Find it instead of retrying.
        if (++refusals >= 2) {
            logger()->warn(
                "msg=\"batch refused by PostgreSQL twice; splitting it to find the rows it refuses\" "
                "rows={} error=\"{}\"",
                b.rows.size(), r.error().message);
            return isolate_refused_rows(b, r.error());
        }
        logger()->warn("msg=\"batch refused by PostgreSQL; retrying it once\" rows={} error=\"{}\"", b.rows.size(),
                       r.error().message);
        pause(cfg_.retry_min);
    }
}

void pg_writer::count_failure() {
    if (hooks_.metrics) {
        hooks_.metrics->database_failures.inc();
    }
    llmp::lock_guard lock{stats_mu_};
    ++stats_.db_failures;
}

std::optional<result<void>> pg_writer::write_holding(std::span<pending_row* const> rows,
                                                     const std::vector<worker_heartbeat>& workers) {
    std::vector<pending_row*> part(rows.begin(), rows.end());
    while (!give_up()) {
        if (auto c = ensure_connected(); !c) {
            pause(backoff_);
            backoff_ = std::min(backoff_ * 2, cfg_.retry_max);
            continue;
        }
        auto r = write_once(part, workers, write_path::staged);
        if (r) {
            backoff_ = cfg_.retry_min;
            return r;
        }
        count_failure();
        if (!holds_batch(r.error())) {
            backoff_ = cfg_.retry_min;
            return r;
        }
        conn_.reset();
        set_state(db_state::down, r.error().message);
        pause(backoff_);
        backoff_ = std::min(backoff_ * 2, cfg_.retry_max);
    }
    return std::nullopt;
}

bool pg_writer::isolate_refused_rows(batch& b, const error& why) {
    std::vector<pending_row*> rows;
    rows.reserve(b.rows.size());
    for (auto& r : b.rows) {
        rows.push_back(&r);
    }
    std::map<std::uint64_t, std::uint64_t> ack_to;  // epoch -> highest tag of a stored row
    if (!rows.empty() && !bisect(rows, why, ack_to)) {
        return false;
    }
    if (!b.workers.empty()) {
        auto r = write_holding({}, b.workers);
        if (!r) {
            return false;
        }
        if (*r) {
            committed({}, b.workers.size());
        } else {
            logger()->warn("msg=\"heartbeats refused by PostgreSQL; dropped\" error=\"{}\"", r->error().message);
        }
    }
    // Dead-lettered rows were settled one by one already; these cover the stored ones.
    for (auto [epoch, tag] : ack_to) {
        hooks_.ack_through(ack_ref{epoch, tag});
    }
    return true;
}

bool pg_writer::bisect(std::span<pending_row* const> rows, const error& why,
                       std::map<std::uint64_t, std::uint64_t>& ack_to) {
    // `rows` were just refused together, with `why`. Halve until each refused row is alone:
    // about 2 log2(n) transactions per bad row, the good rows stored along the way.
    if (rows.size() == 1) {
        return settle_refused_row(*rows[0], why, ack_to);
    }
    auto half = rows.size() / 2;
    for (auto part : {rows.first(half), rows.subspan(half)}) {
        auto r = write_holding(part, {});
        if (!r) {
            return false;
        }
        if (*r) {
            stored(part, ack_to);
        } else if (!bisect(part, r->error(), ack_to)) {
            return false;
        }
    }
    return true;
}

bool pg_writer::settle_refused_row(pending_row& row, const error& why, std::map<std::uint64_t, std::uint64_t>& ack_to) {
    error last = why;
    if (why.code != pg::data_error) {
        // Not a data error: it might be passing (a timeout under load). Refused alone twice,
        // it is the row.
        std::array<pending_row*, 1> one{&row};
        auto r = write_holding(one, {});
        if (!r) {
            return false;
        }
        if (*r) {
            stored(one, ack_to);
            return true;
        }
        last = r->error();
    }
    // The reason carries the SQLSTATE ("PostgreSQL 54001: ..."): what an operator replays by.
    dead_item d{std::move(row.original), "refused by PostgreSQL: " + last.message, row.ack};
    settle_dead(d);
    return true;
}

void pg_writer::stored(std::span<pending_row* const> rows, std::map<std::uint64_t, std::uint64_t>& ack_to) {
    committed(std::vector<pending_row*>(rows.begin(), rows.end()), 0);
    for (const auto* p : rows) {
        auto& top = ack_to[p->ack.epoch];
        top = std::max(top, p->ack.tag);
    }
}

void pg_writer::committed(const std::vector<pending_row*>& rows, std::size_t heartbeats) {
    auto now = unix_ms();
    if (auto* m = hooks_.metrics) {
        m->batch_rows.observe(static_cast<double>(rows.size() + heartbeats));
        m->workers.inc(heartbeats);
        for (const auto* p : rows) {
            if (!is_audit_row(p->rec)) {
                continue;
            }
            auto i = p->rec.index();
            (i == 0 ? m->requests : i == 1 ? m->responses : m->chunks).inc(row_count(p->rec));
            m->lag.observe(static_cast<double>(std::max<std::int64_t>(now - event_time_ms(p->rec), 0)) / 1000.0);
        }
    }
    llmp::lock_guard lock{stats_mu_};
    ++stats_.batches;
    stats_.heartbeats += heartbeats;
    for (const auto* p : rows) {
        if (!is_audit_row(p->rec)) {
            continue;
        }
        const auto n = row_count(p->rec);
        stats_.rows += n;
        interval_rows_ += n;
        switch (p->rec.index()) {
            case 0:
                ++stats_.requests;
                break;
            case 1:
                ++stats_.responses;
                break;
            default:
                stats_.chunks += n;
        }
        auto lag = now - event_time_ms(p->rec);
        lag_.add(lag);
        interval_lag_.add(lag);
    }
}

void pg_writer::note_row(pending_row& row) {
    if (auto* r = std::get_if<response_row>(&row.rec)) {
        if (!lost_servers_.empty() && lost_servers_.count(r->server_id) != 0 && api_loss::mark_lost(*r)) {
            logger()->warn("msg=\"answer of a lost API server stored as api_lost\" request_id={} server_id={}",
                           r->request_id, r->server_id);
        }
    } else if (auto* dc = std::get_if<delivery_confirmation>(&row.rec)) {
        newest_confirmation_ms_ = std::max(newest_confirmation_ms_, dc->sent_at_ms);
        lost_servers_.erase(dc->server_id);  // heard again: alive after all
    }
}

void pg_writer::maybe_judge_api_loss(bool caught_up) {
    auto now = steady::now();
    if (cfg_.api_lost_after.count() <= 0 || now - last_judgement_ < std::chrono::seconds{1} || !conn_ ||
        !conn_->healthy() || (hooks_.consuming_for && !hooks_.consuming_for(cfg_.api_lost_after))) {
        return;
    }
    last_judgement_ = now;
    auto clock = api_loss::judgement_clock_ms(caught_up, unix_ms(), newest_confirmation_ms_);
    auto judged =
        conn_->query(api_loss::judge_lost_sql, {std::to_string(clock), std::to_string(cfg_.api_lost_after.count()),
                                                std::to_string(api_loss::judged_window.count())});
    if (!judged) {
        logger()->warn("msg=\"judging silent API servers failed; next time\" error=\"{}\"", judged.error().message);
        return;
    }
    for (const auto& row : judged.value().rows) {
        logger()->warn(
            "msg=\"API server lost before confirming; its answer stored as api_lost\" request_id={} "
            "server_id={}",
            row[0].value_or(""), row[1].value_or(""));
    }
    if (auto lost = conn_->query(api_loss::lost_servers_sql)) {
        lost_servers_.clear();
        for (const auto& row : lost.value().rows) {
            lost_servers_.insert(row[0].value_or(""));
        }
    }
    if (now - last_ledger_prune_ >= std::chrono::minutes{10}) {
        last_ledger_prune_ = now;
        (void)conn_->exec(api_loss::prune_sql);
    }
}

void pg_writer::maybe_log_stats() {
    auto now = steady::now();
    if (now - last_stats_log_ < cfg_.stats_interval) {
        return;
    }
    last_stats_log_ = now;
    if (interval_rows_ == 0) {
        return;
    }
    std::int64_t p50 = 0;
    std::int64_t p99 = 0;
    std::uint64_t total = 0;
    {
        llmp::lock_guard lock{stats_mu_};
        p50 = interval_lag_.quantile(0.5);
        p99 = interval_lag_.quantile(0.99);
        interval_lag_.clear();
        total = stats_.rows;
    }
    logger()->info("msg=\"ingest\" rows={} rows_total={} lag_p50_ms={} lag_p99_ms={}", interval_rows_, total, p50, p99);
    interval_rows_ = 0;
}

}  // namespace llmp::audit
