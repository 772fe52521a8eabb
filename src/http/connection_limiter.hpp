#pragma once
// connection_limiter: counts a listener's open connections, in all and per client address, and
// says whether one more may open. One per listener, shared with its sessions (a session may
// outlive the listener); any thread: the accept loop admits, sessions release on their strands.
//
// Caps protect the process's descriptors and memory from a connection flood; the per-address
// cap is off by default because behind a reverse proxy or a NAT every client has one address.

#include "common/mutex.hpp"

#include <cstdint>
#include <string>
#include <unordered_map>

namespace llmp::http_server {

class connection_limiter {
public:
    /// 0 = no cap, for either.
    connection_limiter(std::int64_t max_total, std::int64_t max_per_address)
        : max_total_{max_total}, max_per_address_{max_per_address} {}

    enum class verdict { admitted, too_many, too_many_from_address };

    /// Counts a new connection from `address` when a cap allows it; each admitted connection
    /// must be released exactly once.
    verdict admit(const std::string& address);
    void release(const std::string& address);

    std::int64_t open() const;
    /// Connections open from `address` (counted only while the per-address cap is on).
    std::int64_t open_from(const std::string& address) const;

private:
    const std::int64_t max_total_;
    const std::int64_t max_per_address_;
    mutable llmp::mutex mu_;
    std::int64_t open_ GUARDED_BY(mu_) = 0;
    std::unordered_map<std::string, std::int64_t> by_address_ GUARDED_BY(mu_);
};

}  // namespace llmp::http_server
