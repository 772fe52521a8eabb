#pragma once
// result<T>: the one way expected failures travel on the request path (style.md §4).
// An `error` carries a stable machine code (it becomes the "code" of a JSON error body) and a
// message a person can act on. Backed by Boost.Outcome so a later switch to std::expected
// touches this file only.

#include <boost/outcome/result.hpp>

#include <string>
#include <utility>

namespace llmp {

struct error {
    std::string code;     ///< stable, snake_case: "bad_request", "model_not_found", ...
    std::string message;  ///< for a person: what went wrong and what to do
    bool retryable = false;
};

template <class T>
using result = boost::outcome_v2::result<T, error, boost::outcome_v2::policy::terminate>;

inline auto fail(std::string code, std::string message, bool retryable = false) {
    return boost::outcome_v2::failure(error{std::move(code), std::move(message), retryable});
}

inline auto ok() {
    return boost::outcome_v2::success();
}

}  // namespace llmp
