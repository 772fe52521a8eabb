#pragma once
// fake_request_publisher: a request_publisher for relay_test. Records every request, cancel,
// verdict and delivery confirmation, and answers each publish as the test scripts it (confirm, nack, broker lost, no answer
// at all, or refused for a full publisher queue). Single-threaded: the test's io_context thread.

#include "api/request_publisher.hpp"

#include <string>
#include <utility>
#include <vector>

namespace llmp::api::testing {

class fake_request_publisher final : public request_publisher {
public:
    enum class answer { confirm, nack, broker_lost, never, refuse };

    bool up = true;                 ///< what connected() says
    answer next = answer::confirm;  ///< how the next publish is answered
    std::vector<request_message> requests;
    std::vector<std::int64_t> ttls_ms;
    std::vector<std::string> cancels;
    std::vector<std::pair<std::string, error_message>> verdicts;
    std::vector<std::string> confirmed_deliveries;
    done_fn unanswered;  ///< the last publish answered `never`

    bool connected() const override { return up; }

    bool publish_request(const request_message& m, std::int64_t ttl_ms, done_fn done) override {
        if (next == answer::refuse) {
            return false;
        }
        requests.push_back(m);
        ttls_ms.push_back(ttl_ms);
        switch (next) {
            case answer::confirm:
                done(publish_outcome::confirmed);
                break;
            case answer::nack:
                done(publish_outcome::queue_full);
                break;
            case answer::broker_lost:
                done(publish_outcome::broker_unavailable);
                break;
            case answer::never:
                unanswered = std::move(done);
                break;
            case answer::refuse:
                break;
        }
        return true;
    }
    void publish_cancel(const std::string& request_id) override { cancels.push_back(request_id); }
    void publish_verdict(const std::string& request_id, const error_message& verdict) override {
        verdicts.emplace_back(request_id, verdict);
    }
    void confirm_delivery(const std::string& request_id) override { confirmed_deliveries.push_back(request_id); }
};

}  // namespace llmp::api::testing
