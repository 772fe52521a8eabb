#pragma once
// auth: who may use the API (issue 14). With `--auth keys` every route but /healthz, /readyz and
// /metrics needs `Authorization: Bearer <key>`; this is the one check, called by api_server's
// route wrapper (401 before a body is read) and by the relay's admission (401, and 403 when the
// key may not use the request's model). key_ring holds the usable keys by hash; key_refresher
// reloads them from PostgreSQL every second on a thread of its own, so a revoked key stops
// working within ~1 s. With `--auth none` (the default: scripts/up and existing deployments keep
// working) context::keys is null and every request passes.
//
// A presented key is hashed (SHA-256) and looked up by hash: the table compares hashes, never a
// secret, so the lookup's timing tells nothing useful. No key, hash or prefix is ever logged.
//
// Threading: key_ring is read by any I/O thread and replaced whole by the refresher (a
// shared_ptr swap under a mutex held for the swap only). key_refresher owns its thread; its
// constructor does the first, blocking load (a start-up step), its destructor stops the thread.

#include "common/mutex.hpp"
#include "common/result.hpp"
#include "keys/key_store.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace llmp::api {

class key_ring {
public:
    /// Replaces the whole set.
    void replace(std::vector<keys::stored_key> keys);
    /// The usable key with this plaintext, or nullptr (unknown, revoked, or expired now).
    std::shared_ptr<const keys::usable_key> find(std::string_view plaintext) const;
    std::size_t size() const;

private:
    using map = std::unordered_map<std::string, std::shared_ptr<const keys::usable_key>>;
    mutable mutex mu_;
    std::shared_ptr<const map> keys_ GUARDED_BY(mu_) = std::make_shared<map>();
};

/// The usable key `authorization` (the header's value) carries, or invalid_api_key (401).
result<std::shared_ptr<const keys::usable_key>> authenticate(const key_ring& ring,
                                                             std::optional<std::string_view> authorization);
/// model_not_allowed (403) when `key` may not use `model`.
std::optional<llmp::error> model_refusal(const keys::usable_key& key, std::string_view model);

/// nullopt when the request may go on: `ring` is null (auth none), or `authorization` holds a
/// usable key that may use `model` (no model: any key will do). Otherwise invalid_api_key (401)
/// or model_not_allowed (403).
std::optional<llmp::error> auth_refusal(const key_ring* ring, std::optional<std::string_view> authorization,
                                        std::optional<std::string_view> model);

/// Loads the usable keys into a ring now and every `interval` after, on its own thread. When
/// PostgreSQL is unreachable it keeps the last set and logs that once (and once more when it
/// is back).
class key_refresher {
public:
    /// The first load; fails when the database cannot be read (the server must not start
    /// refusing every request without saying why).
    static result<std::unique_ptr<key_refresher>> start(key_ring& ring, std::string database_url,
                                                        std::chrono::milliseconds interval);
    ~key_refresher();
    key_refresher(const key_refresher&) = delete;
    key_refresher& operator=(const key_refresher&) = delete;

    /// Reloads that failed since start (the set in force stayed the last loaded one).
    std::uint64_t failed_reloads() const { return failed_reloads_.load(); }

private:
    key_refresher(key_ring& ring, std::string url, std::chrono::milliseconds interval);
    result<void> load_once();
    void run();

    key_ring& ring_;
    const std::string url_;
    const std::chrono::milliseconds interval_;
    std::unique_ptr<pg::connection> conn_;  // the refresher thread's only (the first load: the caller's)
    bool failing_ = false;                  // the refresher thread's only
    std::atomic<std::uint64_t> failed_reloads_{0};
    mutex mu_;
    std::condition_variable cv_;
    bool stop_ GUARDED_BY(mu_) = false;
    std::thread thread_;
};

}  // namespace llmp::api
