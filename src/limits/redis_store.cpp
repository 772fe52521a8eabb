#include "limits/redis_store.hpp"

#include "limits/logger.hpp"

#include <hiredis/hiredis.h>

#include <charconv>
#include <sys/time.h>

namespace llmp::limits {
namespace {

// KEYS: requests and tokens of the minute window, the streams in flight (a sorted set of request
// ids scored by lease end), the tokens of the day and of the month.
// ARGV: the five limits (-1 = none) in limit_kind order, now (ms), window (ms), request id,
// lease end (ms). Returns {refused limit_kind, requests, tokens, streams, day, month} after it.
// The same decision as first_reached() and local_store::admit().
constexpr const char* admit_script = R"lua(
local function limit(i) local v = tonumber(ARGV[i]); if v < 0 then return nil end; return v end
local function get(k) return tonumber(redis.call('GET', k) or '0') end
local now = tonumber(ARGV[6])
local req, tok = get(KEYS[1]), get(KEYS[2])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local streams = redis.call('ZCARD', KEYS[3])
local day, month = get(KEYS[4]), get(KEYS[5])
local rpm, tpm, ms, daily, monthly = limit(1), limit(2), limit(3), limit(4), limit(5)
local refused = 0
if rpm and req >= rpm then refused = 1
elseif tpm and tok >= tpm then refused = 2
elseif ms and streams >= ms then refused = 3
elseif daily and day >= daily then refused = 4
elseif monthly and month >= monthly then refused = 5 end
if refused == 0 then
  req = redis.call('INCR', KEYS[1])
  if req == 1 then redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[7])) end
  if ms then
    local lease = tonumber(ARGV[9])
    redis.call('ZADD', KEYS[3], lease, ARGV[8])
    if redis.call('PTTL', KEYS[3]) < lease - now then redis.call('PEXPIRE', KEYS[3], lease - now) end
    streams = streams + 1
  end
end
return {refused, req, tok, streams, day, month}
)lua";

// KEYS: tokens of the minute window, the streams in flight, tokens of the day and of the month.
// ARGV: tokens, request id, window (ms).
constexpr const char* finish_script = R"lua(
redis.call('ZREM', KEYS[2], ARGV[2])
local n = tonumber(ARGV[1])
if n > 0 then
  redis.call('INCRBY', KEYS[1], n); redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[3]))
  redis.call('INCRBY', KEYS[3], n); redis.call('EXPIRE', KEYS[3], 2 * 86400)
  redis.call('INCRBY', KEYS[4], n); redis.call('EXPIRE', KEYS[4], 62 * 86400)
end
return 0
)lua";

// A lease (limiter.hpp): up to ARGV[6] requests of a key without a stream cap, granted and
// counted in one step — the admission script's checks in the same order, then as many requests
// as the requests-per-minute limit still allows. KEYS: requests and tokens of the minute
// window, tokens of the day and of the month. ARGV: the limits rpm, tpm, daily, monthly (-1 =
// none), window (ms), want. Returns {refused limit_kind, granted, requests, tokens, 0, day,
// month} after it.
constexpr const char* reserve_script = R"lua(
local function limit(i) local v = tonumber(ARGV[i]); if v < 0 then return nil end; return v end
local function get(k) return tonumber(redis.call('GET', k) or '0') end
local req, tok, day, month = get(KEYS[1]), get(KEYS[2]), get(KEYS[3]), get(KEYS[4])
local rpm, tpm, daily, monthly = limit(1), limit(2), limit(3), limit(4)
local refused = 0
if rpm and req >= rpm then refused = 1
elseif tpm and tok >= tpm then refused = 2
elseif daily and day >= daily then refused = 4
elseif monthly and month >= monthly then refused = 5 end
local granted = 0
if refused == 0 then
  granted = tonumber(ARGV[6])
  if rpm and rpm - req < granted then granted = rpm - req end
  req = redis.call('INCRBY', KEYS[1], granted)
  if req == granted then redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[5])) end
end
return {refused, granted, req, tok, 0, day, month}
)lua";

// Stream slots held by one server (limiter.hpp): entries of the key's streams in flight, like
// the per-request admission's request ids. KEYS: the streams in flight. ARGV: cap, now (ms),
// held until (ms), then the names to take, as many as the cap leaves free. Returns {granted,
// streams in flight after it}.
constexpr const char* slots_script = R"lua(
local now, cap, untl = tonumber(ARGV[2]), tonumber(ARGV[1]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local n = redis.call('ZCARD', KEYS[1])
local granted = 0
for i = 4, #ARGV do
  if n + granted >= cap then break end
  redis.call('ZADD', KEYS[1], untl, ARGV[i])
  granted = granted + 1
end
if redis.call('PTTL', KEYS[1]) < untl - now then redis.call('PEXPIRE', KEYS[1], untl - now) end
return {granted, n + granted}
)lua";

// Renews held slots: those still in the set are held until ARGV[3]; the others (expired, or
// lost with Redis' data) are not added back. Same KEYS and ARGV as slots_script. Returns
// {still held, streams in flight}.
constexpr const char* renew_script = R"lua(
local now, untl = tonumber(ARGV[2]), tonumber(ARGV[3])
local held = 0
for i = 4, #ARGV do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) > now then
    redis.call('ZADD', KEYS[1], untl, ARGV[i])
    held = held + 1
  end
end
if redis.call('PTTL', KEYS[1]) < untl - now then redis.call('PEXPIRE', KEYS[1], untl - now) end
return {held, redis.call('ZCARD', KEYS[1])}
)lua";

std::string prefix_of(const std::string& key_id) {
    return "llmp:lim:{" + key_id + "}:";
}

std::string limit_arg(const std::optional<std::int64_t>& v) {
    return v ? std::to_string(*v) : "-1";
}

timeval to_timeval(std::chrono::milliseconds ms) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>(ms.count() % 1000 * 1000);
    return tv;
}

struct reply_deleter {
    void operator()(redisReply* r) const { freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

/// Runs one command (argv form: no quoting to get wrong); nullptr when the connection failed.
reply_ptr command(redisContext* c, const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    return reply_ptr{
        static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data()))};
}

void append(redisContext* c, const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    redisAppendCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data());
}

std::vector<std::string> admit_command(const std::string& sha, const admit_args& a) {
    const auto w = windows_at(a.now_ms, a.window_ms);
    const auto p = prefix_of(a.key_id);
    const auto& l = a.limits;
    return {"EVALSHA",
            sha,
            "5",
            p + "r:" + std::to_string(w.minute),
            p + "t:" + std::to_string(w.minute),
            p + "s",
            p + "d:" + std::to_string(w.day),
            p + "m:" + std::to_string(w.month),
            limit_arg(l.requests_per_minute),
            limit_arg(l.tokens_per_minute),
            limit_arg(l.max_streams),
            limit_arg(l.tokens_per_day),
            limit_arg(l.tokens_per_month),
            std::to_string(a.now_ms),
            std::to_string(a.window_ms),
            a.request_id,
            std::to_string(a.lease_until_ms)};
}

std::vector<std::string> finish_command(const std::string& sha, const finish_args& a) {
    const auto w = windows_at(a.now_ms, a.window_ms);
    const auto p = prefix_of(a.key_id);
    return {"EVALSHA",
            sha,
            "4",
            p + "t:" + std::to_string(w.minute),
            p + "s",
            p + "d:" + std::to_string(w.day),
            p + "m:" + std::to_string(w.month),
            std::to_string(a.tokens),
            a.request_id,
            std::to_string(a.window_ms)};
}

std::vector<std::string> reserve_command(const std::string& sha, const reserve_args& a) {
    const auto w = windows_at(a.now_ms, a.window_ms);
    const auto p = prefix_of(a.key_id);
    const auto& l = a.limits;
    return {"EVALSHA",
            sha,
            "4",
            p + "r:" + std::to_string(w.minute),
            p + "t:" + std::to_string(w.minute),
            p + "d:" + std::to_string(w.day),
            p + "m:" + std::to_string(w.month),
            limit_arg(l.requests_per_minute),
            limit_arg(l.tokens_per_minute),
            limit_arg(l.tokens_per_day),
            limit_arg(l.tokens_per_month),
            std::to_string(a.window_ms),
            std::to_string(a.want)};
}

std::vector<std::string> slots_command(const std::string& sha, const slot_args& a) {
    std::vector<std::string> out{"EVALSHA",
                                 sha,
                                 "1",
                                 prefix_of(a.key_id) + "s",
                                 std::to_string(a.cap),
                                 std::to_string(a.now_ms),
                                 std::to_string(a.until_ms)};
    out.insert(out.end(), a.names.begin(), a.names.end());
    return out;
}

std::vector<std::string> release_command(const slot_args& a) {
    std::vector<std::string> out{"ZREM", prefix_of(a.key_id) + "s"};
    out.insert(out.end(), a.names.begin(), a.names.end());
    return out;
}

/// The integers of a script's array reply, when it is one of `n` integers.
std::optional<std::vector<std::int64_t>> integers_of(const redisReply* r, std::size_t n) {
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n) {
        return std::nullopt;
    }
    std::vector<std::int64_t> v(n);
    for (std::size_t i = 0; i < n; ++i) {
        if (r->element[i]->type != REDIS_REPLY_INTEGER) {
            return std::nullopt;
        }
        v[i] = r->element[i]->integer;
    }
    return v;
}

limit_kind kind_of(std::int64_t v) {
    return v >= 0 && v < limit_kind_count ? static_cast<limit_kind>(v) : limit_kind::none;
}

result<grant> grant_of(const redisReply* r) {
    auto v = integers_of(r, 7);
    if (!v) {
        return fail("redis_error", r->type == REDIS_REPLY_ERROR ? std::string{r->str, r->len}
                                                                : "unexpected reply to the reservation script");
    }
    grant out;
    out.refused = kind_of((*v)[0]);
    out.granted = (*v)[1];
    out.now = counts{(*v)[2], (*v)[3], (*v)[4], (*v)[5], (*v)[6]};
    return out;
}

result<slot_grant> slot_grant_of(const redisReply* r) {
    auto v = integers_of(r, 2);
    if (!v) {
        return fail("redis_error", r->type == REDIS_REPLY_ERROR ? std::string{r->str, r->len}
                                                                : "unexpected reply to the stream slots script");
    }
    return slot_grant{(*v)[0], (*v)[1]};
}

result<admission> admission_of(const redisReply* r) {
    auto v = integers_of(r, 6);
    if (!v) {
        return fail("redis_error", r->type == REDIS_REPLY_ERROR ? std::string{r->str, r->len}
                                                                : "unexpected reply to the admission script");
    }
    admission out;
    out.refused = kind_of((*v)[0]);
    out.now = counts{(*v)[1], (*v)[2], (*v)[3], (*v)[4], (*v)[5]};
    return out;
}

}  // namespace

result<redis_address> parse_redis_url(std::string_view url) {
    constexpr std::string_view scheme = "redis://";
    if (!url.starts_with(scheme)) {
        return fail("bad_config", "a Redis URL starts with redis:// (got '" + std::string{url} + "')");
    }
    auto rest = url.substr(scheme.size());
    redis_address a;
    if (auto at = rest.rfind('@'); at != std::string_view::npos) {
        auto cred = rest.substr(0, at);
        rest = rest.substr(at + 1);
        if (auto colon = cred.find(':'); colon != std::string_view::npos) {
            a.user = std::string{cred.substr(0, colon)};
            a.password = std::string{cred.substr(colon + 1)};
        } else {
            a.password = std::string{cred};
        }
    }
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
        auto db = rest.substr(slash + 1);
        rest = rest.substr(0, slash);
        if (!db.empty()) {
            auto [p, ec] = std::from_chars(db.data(), db.data() + db.size(), a.db);
            if (ec != std::errc{} || p != db.data() + db.size() || a.db < 0) {
                return fail("bad_config", "the Redis URL's database is not a number");
            }
        }
    }
    if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
        auto port = rest.substr(colon + 1);
        rest = rest.substr(0, colon);
        auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), a.port);
        if (ec != std::errc{} || p != port.data() + port.size() || a.port <= 0 || a.port > 65535) {
            return fail("bad_config", "the Redis URL's port is not a port number");
        }
    }
    if (!rest.empty()) {
        a.host = std::string{rest};
    }
    return a;
}

redis_store::redis_store(redis_options opts, redis_address addr, state_fn on_state)
    : opts_{std::move(opts)}, addr_{std::move(addr)}, on_state_{std::move(on_state)} {}

result<std::unique_ptr<redis_store>> redis_store::create(redis_options opts, state_fn on_state) {
    auto addr = parse_redis_url(opts.url);
    if (!addr) {
        return addr.error();
    }
    return std::unique_ptr<redis_store>{new redis_store{std::move(opts), std::move(addr.value()), std::move(on_state)}};
}

redis_store::~redis_store() {
    {
        lock_guard lock{mu_};
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
    if (ctx_ != nullptr) {
        redisFree(ctx_);
    }
}

void redis_store::start() {
    thread_ = std::thread{[this] { run(); }};
}

bool redis_store::wait_connected(std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (!attempted_.load() && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds{5});  // start-up only
    }
    return up();
}

void redis_store::admit(admit_args a, admit_done done) {
    if (!up_.load()) {
        done(fail("redis_unavailable", "Redis is unreachable"));
        return;
    }
    {
        lock_guard lock{mu_};
        if (queue_.size() < opts_.max_pending) {
            queue_.emplace_back(admit_job{std::move(a), std::move(done)});
            cv_.notify_one();
            return;
        }
    }
    done(fail("redis_unavailable", "too many admissions are waiting for Redis"));
}

bool redis_store::finish(finish_args a) {
    if (!up_.load()) {
        return false;
    }
    lock_guard lock{mu_};
    if (queue_.size() >= opts_.max_pending) {
        return false;
    }
    queue_.emplace_back(std::move(a));
    cv_.notify_one();
    return true;
}

bool redis_store::enqueue(job&& j) {
    lock_guard lock{mu_};
    if (queue_.size() >= opts_.max_pending) {
        return false;
    }
    queue_.emplace_back(std::move(j));
    cv_.notify_one();
    return true;
}

void redis_store::reserve_slots(slot_args a, slots_done done) {
    if (!up_.load()) {
        done(fail("redis_unavailable", "Redis is unreachable"));
        return;
    }
    auto d = std::make_shared<slots_done>(std::move(done));
    if (!enqueue(slots_job{std::move(a), [d](result<slot_grant> g) { (*d)(std::move(g)); }, false})) {
        (*d)(fail("redis_unavailable", "too many admissions are waiting for Redis"));
    }
}

void redis_store::renew_slots(slot_args a, slots_done done) {
    if (!up_.load()) {
        done(fail("redis_unavailable", "Redis is unreachable"));
        return;
    }
    auto d = std::make_shared<slots_done>(std::move(done));
    if (!enqueue(slots_job{std::move(a), [d](result<slot_grant> g) { (*d)(std::move(g)); }, true})) {
        (*d)(fail("redis_unavailable", "too many admissions are waiting for Redis"));
    }
}

bool redis_store::release_slots(slot_args a) {
    return up_.load() && !a.names.empty() && enqueue(release_job{std::move(a)});
}

void redis_store::set_tick(std::function<void()> fn, std::chrono::milliseconds every) {
    tick_ = std::move(fn);
    tick_every_ = every;
}

void redis_store::reserve(reserve_args a, reserve_done done) {
    if (!up_.load()) {
        done(fail("redis_unavailable", "Redis is unreachable"));
        return;
    }
    {
        lock_guard lock{mu_};
        if (queue_.size() < opts_.max_pending) {
            queue_.emplace_back(reserve_job{std::move(a), std::move(done)});
            cv_.notify_one();
            return;
        }
    }
    done(fail("redis_unavailable", "too many admissions are waiting for Redis"));
}

// Merged per key and window, and not woken for: the store thread sends them with its next
// exchange, at most charge_delay after the first (one wake per delay, not one per request).
bool redis_store::charge(finish_args a) {
    if (!up_.load()) {
        return false;
    }
    const auto w = windows_at(a.now_ms, a.window_ms);
    auto slot = a.key_id + '/' + std::to_string(w.minute) + '/' + std::to_string(w.day);
    lock_guard lock{mu_};
    if (auto it = charges_.find(slot); it != charges_.end()) {
        it->second.tokens += a.tokens;
        return true;
    }
    if (charges_.size() >= opts_.max_pending) {
        return false;
    }
    const bool first = charges_.empty();
    a.request_id.clear();  // no stream to release: ZREM of '' removes nothing
    charges_.emplace(std::move(slot), std::move(a));
    if (first) {
        charges_since_ = std::chrono::steady_clock::now();
        cv_.notify_one();  // the thread may be asleep for a whole ping interval: let it set its deadline
    }
    return true;
}

void redis_store::set_up(bool up, std::string_view why) {
    up_.store(up);
    if (reported_ && up == was_up_) {
        return;
    }
    // Said once each way: the first failure, and the first success after it.
    if (!up) {
        logger()->warn(
            "msg=\"redis unreachable: counting limits in this process only until it is back\" host={} port={} "
            "error=\"{}\"",
            addr_.host, addr_.port, why);
    } else if (reported_) {
        logger()->info("msg=\"redis reachable again: limits count across the fleet\" host={} port={}", addr_.host,
                       addr_.port);
    } else {
        logger()->info("msg=\"redis connected: limits count across the fleet\" host={} port={}", addr_.host,
                       addr_.port);
    }
    reported_ = true;
    was_up_ = up;
    if (on_state_) {
        on_state_(up);
    }
}

bool redis_store::connect() {
    const auto tv = to_timeval(opts_.timeout);
    redisContext* c = redisConnectWithTimeout(addr_.host.c_str(), addr_.port, tv);
    auto failed = [&](std::string why) {
        if (c != nullptr) {
            redisFree(c);
        }
        set_up(false, why);
        return false;
    };
    if (c == nullptr || c->err != 0) {
        return failed(c == nullptr ? "out of memory" : c->errstr);
    }
    redisSetTimeout(c, tv);
    auto checked = [&](const std::vector<std::string>& args) -> std::optional<std::string> {
        auto r = command(c, args);
        if (!r) {
            return std::string{c->errstr};
        }
        if (r->type == REDIS_REPLY_ERROR) {
            return std::string{r->str, r->len};
        }
        return std::nullopt;
    };
    if (!addr_.password.empty()) {
        auto auth = addr_.user.empty() ? std::vector<std::string>{"AUTH", addr_.password}
                                       : std::vector<std::string>{"AUTH", addr_.user, addr_.password};
        if (auto e = checked(auth)) {
            return failed("AUTH: " + *e);
        }
    }
    if (addr_.db != 0) {
        if (auto e = checked({"SELECT", std::to_string(addr_.db)})) {
            return failed("SELECT: " + *e);
        }
    }
    std::string shas[5];
    const char* scripts[5] = {admit_script, finish_script, reserve_script, slots_script, renew_script};
    for (int i = 0; i < 5; ++i) {
        auto r = command(c, {"SCRIPT", "LOAD", scripts[i]});
        if (!r || r->type != REDIS_REPLY_STRING) {
            return failed(r ? "SCRIPT LOAD: " + std::string{r->str ? r->str : "unexpected reply"} : c->errstr);
        }
        shas[i] = std::string{r->str, r->len};
    }
    ctx_ = c;
    admit_sha_ = shas[0];
    finish_sha_ = shas[1];
    reserve_sha_ = shas[2];
    slots_sha_ = shas[3];
    renew_sha_ = shas[4];
    set_up(true, "");
    return true;
}

void redis_store::drop(std::string_view why) {
    ++errors_;
    if (ctx_ != nullptr) {
        redisFree(ctx_);
        ctx_ = nullptr;
    }
    set_up(false, why);
}

void redis_store::fail_one(job& j, std::string_view why) {
    if (auto* a = std::get_if<admit_job>(&j)) {
        a->done(fail("redis_unavailable", std::string{why}));
    } else if (auto* r = std::get_if<reserve_job>(&j)) {
        r->done(fail("redis_unavailable", std::string{why}));
    } else if (auto* s = std::get_if<slots_job>(&j)) {
        s->done(fail("redis_unavailable", std::string{why}));
    }
}

void redis_store::fail_all(std::deque<job>& batch, std::string_view why) {
    for (auto& j : batch) {
        fail_one(j, why);
    }
    batch.clear();
}

bool redis_store::exchange(std::deque<job>& batch) {
    for (const auto& j : batch) {
        if (const auto* a = std::get_if<admit_job>(&j)) {
            append(ctx_, admit_command(admit_sha_, a->args));
        } else if (const auto* r = std::get_if<reserve_job>(&j)) {
            append(ctx_, reserve_command(reserve_sha_, r->args));
        } else if (const auto* s = std::get_if<slots_job>(&j)) {
            append(ctx_, slots_command(s->renew ? renew_sha_ : slots_sha_, s->args));
        } else if (const auto* x = std::get_if<release_job>(&j)) {
            append(ctx_, release_command(x->args));
        } else {
            append(ctx_, finish_command(finish_sha_, std::get<finish_args>(j)));
        }
    }
    while (!batch.empty()) {
        void* raw = nullptr;
        if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) {
            std::string why = ctx_->errstr[0] != '\0' ? ctx_->errstr : "no reply";
            fail_all(batch, why);
            drop(why);
            return false;
        }
        reply_ptr r{static_cast<redisReply*>(raw)};
        auto j = std::move(batch.front());
        batch.pop_front();
        if (auto* a = std::get_if<admit_job>(&j)) {
            a->done(admission_of(r.get()));
        } else if (auto* g = std::get_if<reserve_job>(&j)) {
            g->done(grant_of(r.get()));
        } else if (auto* s = std::get_if<slots_job>(&j)) {
            s->done(slot_grant_of(r.get()));
        }
        if (r->type == REDIS_REPLY_ERROR) {
            ++errors_;  // a script error (NOSCRIPT after a SCRIPT FLUSH): reconnecting reloads them
            std::string why{r->str, r->len};
            while (!batch.empty()) {  // the rest of the pipeline still has replies to read
                void* rest = nullptr;
                if (redisGetReply(ctx_, &rest) != REDIS_OK || rest == nullptr) {
                    break;
                }
                freeReplyObject(rest);
                fail_one(batch.front(), why);
                batch.pop_front();
            }
            fail_all(batch, why);
            drop(why);
            return false;
        }
    }
    return true;
}

void redis_store::run() {
    auto last_io = std::chrono::steady_clock::now();
    while (true) {
        if (ctx_ == nullptr) {
            const bool ok = connect();
            attempted_.store(true);
            if (!ok) {
                unique_lock lock{mu_};
                // Work queued before the store noticed it was down: answer it (the limiter counts it locally).
                std::deque<job> stale;
                stale.swap(queue_);
                cv_.wait_for(lock.native(), opts_.reconnect_interval,
                             [this]() NO_THREAD_SAFETY_ANALYSIS { return stop_; });
                const bool stop = stop_;
                lock.unlock();
                fail_all(stale, "Redis is unreachable");
                if (stop) {
                    return;
                }
                continue;
            }
        }
        if (tick_ && std::chrono::steady_clock::now() >= next_tick_) {
            next_tick_ = std::chrono::steady_clock::now() + tick_every_;
            tick_();  // may queue work (slot releases, renewals): not under mu_
        }
        std::deque<job> batch;
        bool stop = false;
        {
            unique_lock lock{mu_};
            // Work wakes the thread at once; token charges only once charge_delay has passed
            // since the first of them (or with the next work); idle, a PING each ping_interval.
            auto idle_until = std::chrono::steady_clock::now() + opts_.ping_interval;
            if (tick_) {
                idle_until = std::min(idle_until, next_tick_);
            }
            while (!stop_ && queue_.empty()) {
                const auto until =
                    charges_.empty() ? idle_until : std::min(idle_until, charges_since_ + opts_.charge_delay);
                if (std::chrono::steady_clock::now() >= until) {
                    break;
                }
                cv_.wait_until(lock.native(), until);
            }
            batch.swap(queue_);
            for (auto& [slot, c] : charges_) {
                batch.emplace_back(std::move(c));
            }
            charges_.clear();
            stop = stop_;
        }
        if (stop) {
            // Shutting down: what is queued still goes out (a server's last token charges),
            // within the command timeout.
            if (!batch.empty()) {
                exchange(batch);
            }
            return;
        }
        if (batch.empty()) {
            if (std::chrono::steady_clock::now() - last_io < opts_.ping_interval) {
                continue;  // woken for the tick only
            }
            last_io = std::chrono::steady_clock::now();
            auto r = command(ctx_, {"PING"});
            if (!r || r->type == REDIS_REPLY_ERROR) {
                drop(r ? std::string{r->str, r->len} : std::string{ctx_->errstr});
            }
            continue;
        }
        last_io = std::chrono::steady_clock::now();
        exchange(batch);
    }
}

}  // namespace llmp::limits
