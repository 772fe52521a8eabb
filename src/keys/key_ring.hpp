#pragma once
// key_ring: the usable API keys of a server, in memory, by hash; and key_refresher, which reloads
// them from PostgreSQL on a thread of its own when a change of api_keys is announced (LISTEN on
// keys::changed_channel: a revoked key stops working a round trip after the revocation commits)
// and every interval regardless (keys expire, and a notification is lost with its connection).
// Shared by the API server (api/auth.hpp) and the monitor (monitor/monitor_auth.hpp).
//
// A presented key is hashed (SHA-256) and looked up by hash: the table compares hashes, never a
// secret, so the lookup's timing tells nothing useful. No key, hash or prefix is ever logged.
//
// Threading: key_ring is read by any thread and replaced whole by the refresher (a shared_ptr
// swap under a mutex held for the swap only). key_refresher owns its thread, which waits in
// poll() on its PostgreSQL connection and an eventfd; start() does the first, blocking load (a
// start-up step), the destructor wakes the thread through the eventfd and joins it.

#include "common/mutex.hpp"
#include "common/result.hpp"
#include "keys/key_store.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace llmp::keys {

class key_ring {
public:
    /// Replaces the whole set.
    void replace(std::vector<stored_key> keys);
    /// The usable key with this plaintext, or nullptr (unknown, revoked, or expired now).
    std::shared_ptr<const usable_key> find(std::string_view plaintext) const;
    /// The usable key with this hash (hash_key), or nullptr: for a session that remembers the
    /// hash of the key it was opened with, never the key.
    std::shared_ptr<const usable_key> find_hash(const std::string& hash) const;
    std::size_t size() const;
    /// False until the first replace(): nothing was ever loaded.
    bool loaded() const;

private:
    using map = std::unordered_map<std::string, std::shared_ptr<const usable_key>>;
    mutable mutex mu_;
    std::shared_ptr<const map> keys_ GUARDED_BY(mu_) = std::make_shared<map>();
    bool loaded_ GUARDED_BY(mu_) = false;
};

/// How a key_refresher logs and starts.
struct refresher_options {
    /// The logger (common/logging.hpp) and the words its lines use for the set, e.g. "api keys".
    std::string log_component = "api";
    std::string what = "api keys";
    /// The application_name of its PostgreSQL connection.
    std::string application_name = "llmproxy api keys";
    /// True: start() fails when the first load fails (the API must not start refusing every
    /// request without saying why). False: start() logs it and the thread keeps trying; the
    /// ring stays unloaded (key_ring::loaded) until a load succeeds.
    bool first_load_required = true;
};

/// Loads the usable keys into a ring now, at every announced change and every `interval`, on
/// its own thread. When PostgreSQL is unreachable it keeps the last set and logs that once (and
/// once more when it is back).
class key_refresher {
public:
    static result<std::unique_ptr<key_refresher>> start(key_ring& ring, std::string database_url,
                                                        std::chrono::milliseconds interval,
                                                        refresher_options options = {});
    ~key_refresher();
    key_refresher(const key_refresher&) = delete;
    key_refresher& operator=(const key_refresher&) = delete;

    /// Reloads that failed since start (the set in force stayed the last loaded one).
    std::uint64_t failed_reloads() const { return failed_reloads_.load(); }

private:
    key_refresher(key_ring& ring, std::string url, std::chrono::milliseconds interval, refresher_options options);
    result<void> load_once();
    /// load_once with the log lines and counters of a reload on the thread.
    void reload();
    /// Reads the announcements that arrived on the connection; true when any did. A broken
    /// connection is dropped (the next load reconnects and listens again).
    bool announced();
    void run();

    key_ring& ring_;
    const std::string url_;
    const std::chrono::milliseconds interval_;
    const refresher_options options_;
    std::unique_ptr<pg::connection> conn_;  // the refresher thread's only (the first load: the caller's)
    bool failing_ = false;                  // the refresher thread's only (the first load: the caller's)
    std::atomic<std::uint64_t> failed_reloads_{0};
    std::atomic<bool> stop_{false};
    int wake_fd_ = -1;  // eventfd: the destructor's way into the thread's poll()
    std::thread thread_;
};

}  // namespace llmp::keys
