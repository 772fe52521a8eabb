#include "api/field_checks.hpp"

#include "common/json_get.hpp"

#include <array>
#include <cmath>
#include <sstream>
#include <string>

namespace llmp::api {
namespace {

using json = nlohmann::json;

/// A bound as a person writes it: 2147483647, 0.5, 3.4e+38.
std::string show(double v) {
    std::ostringstream s;
    s << v;
    return s.str();
}

std::string integer_range(const std::string& name, std::int64_t lo, std::int64_t hi) {
    return name + " must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
}

std::string number_range(const std::string& name, double lo, double hi) {
    return name + " must be a number from " + show(lo) + " to " + show(hi);
}

bool integer_in(const json& v, std::int64_t lo, std::int64_t hi) {
    auto i = integer_of<std::int64_t>(v);
    return i && *i >= lo && *i <= hi;
}

/// Every JSON number converts to double (the parser refuses the non-finite ones).
bool number_in(const json& v, double lo, double hi) {
    return v.is_number() && v.get<double>() >= lo && v.get<double>() <= hi;
}

constexpr double float32_max = std::numeric_limits<float>::max();
constexpr std::int64_t int32_min = std::numeric_limits<std::int32_t>::min();
constexpr std::int64_t int64_min = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();

enum class option_type { integer, number, boolean };

struct option_rule {
    const char* name;
    option_type type;
    double lo = 0;  // numbers; integers use ilo/ihi (a double cannot hold every int64 bound)
    double hi = 0;
    std::int64_t ilo = 0;
    std::int64_t ihi = 0;
};

constexpr option_rule integer_option(const char* name, std::int64_t lo, std::int64_t hi = int32_max) {
    return {name, option_type::integer, 0, 0, lo, hi};
}
constexpr option_rule number_option(const char* name, double lo = -float32_max, double hi = float32_max) {
    return {name, option_type::number, lo, hi};
}
constexpr option_rule boolean_option(const char* name) {
    return {name, option_type::boolean};
}

// Ollama's Options and Runner fields (api/types.go). Ollama decodes the integers into Go ints
// that llama.cpp narrows to 32 bits and the numbers into float32; negative values keep the
// meanings Ollama gives them (num_predict -1 = no limit, -2 = fill the context; num_keep,
// repeat_last_n, num_gpu -1 = all/auto).
constexpr std::array ollama_options{
    integer_option("num_predict", -2),
    integer_option("num_ctx", 1),
    integer_option("num_batch", 1),
    integer_option("num_keep", int32_min),
    integer_option("num_gpu", int32_min),
    integer_option("main_gpu", 0),
    integer_option("num_thread", 0),
    integer_option("top_k", int32_min),
    integer_option("repeat_last_n", int32_min),
    integer_option("mirostat", 0, 2),
    integer_option("seed", int64_min, int64_max),
    number_option("temperature"),
    number_option("top_p", 0, 1),
    number_option("min_p", 0, 1),
    number_option("typical_p", 0, 1),
    number_option("repeat_penalty"),
    number_option("presence_penalty"),
    number_option("frequency_penalty"),
    number_option("mirostat_tau"),
    number_option("mirostat_eta"),
    number_option("tfs_z"),
    boolean_option("penalize_newline"),
    boolean_option("numa"),
    boolean_option("low_vram"),
    boolean_option("f16_kv"),
    boolean_option("logits_all"),
    boolean_option("vocab_only"),
    boolean_option("use_mmap"),
    boolean_option("use_mlock"),
};

}  // namespace

result<std::optional<std::int64_t>> integer_field(const json& j, const char* name, std::int64_t lo, std::int64_t hi) {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) {
        return std::optional<std::int64_t>{};
    }
    if (!integer_in(*it, lo, hi)) {
        return fail("invalid_field", integer_range(name, lo, hi));
    }
    return integer_of<std::int64_t>(*it);
}

result<std::optional<double>> number_field(const json& j, const char* name, double lo, double hi) {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) {
        return std::optional<double>{};
    }
    if (!number_in(*it, lo, hi)) {
        return fail("invalid_field", number_range(name, lo, hi));
    }
    return std::optional<double>{it->get<double>()};
}

result<void> check_ollama_options(const json& options) {
    for (const auto& rule : ollama_options) {
        auto name = std::string{"options."} + rule.name;
        auto it = options.find(rule.name);
        if (it == options.end() || it->is_null()) {
            continue;
        }
        switch (rule.type) {
            case option_type::integer:
                if (!integer_in(*it, rule.ilo, rule.ihi)) {
                    return fail("invalid_field", integer_range(name, rule.ilo, rule.ihi));
                }
                break;
            case option_type::number:
                if (!number_in(*it, rule.lo, rule.hi)) {
                    return fail("invalid_field", number_range(name, rule.lo, rule.hi));
                }
                break;
            case option_type::boolean:
                if (!it->is_boolean()) {
                    return fail("invalid_field", name + " must be true or false");
                }
                break;
        }
    }
    return ok();
}

}  // namespace llmp::api
