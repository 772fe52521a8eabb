#include "providers/upstream_policy.hpp"

#include "common/ascii.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <string_view>

namespace llmp::providers {
namespace {

using json = nlohmann::json;

/// Ollama's sampling options (its API docs and Modelfile `PARAMETER`s): they shape one answer
/// and cost nothing beyond it, so any client may set them. num_ctx is handled apart (clamped).
/// Not here, so only with --allow-client-options: numa, num_batch, num_gpu, main_gpu,
/// low_vram, vocab_only, use_mmap, use_mlock, num_thread, f16_kv, logits_all (they reload the
/// model or change how it sits on the hardware).
constexpr std::array<std::string_view, 18> sampling_options{"num_predict",
                                                            "temperature",
                                                            "top_k",
                                                            "top_p",
                                                            "min_p",
                                                            "typical_p",
                                                            "tfs_z",
                                                            "repeat_penalty",
                                                            "repeat_last_n",
                                                            "presence_penalty",
                                                            "frequency_penalty",
                                                            "penalize_newline",
                                                            "seed",
                                                            "stop",
                                                            "num_keep",
                                                            "mirostat",
                                                            "mirostat_tau",
                                                            "mirostat_eta"};

/// Top-level keys a client may pass through (request_parser's pass-through list minus the
/// ones that load models or bypass the chat template: keep_alive, template, raw, context).
/// dimensions and truncate are the embedding requests' own; logprobs and top_logprobs only
/// change what the answer carries; n (choices, the API bounds it) is OpenAI's, answered by an
/// Ollama upstream with n generations (providers/choice_fanout.hpp).
constexpr std::array<std::string_view, 14> safe_extra_keys{
    "format", "response_format", "think",      "tools",    "tool_choice", "parallel_tool_calls", "system",
    "suffix", "images",          "dimensions", "truncate", "logprobs",    "top_logprobs",        "n"};

template <std::size_t N>
bool among(const std::array<std::string_view, N>& list, std::string_view key) {
    return std::find(list.begin(), list.end(), key) != list.end();
}

bool allowed_by_operator(const upstream_policy& p, std::string_view key) {
    return std::find(p.allowed_client_options.begin(), p.allowed_client_options.end(), key) !=
           p.allowed_client_options.end();
}

/// An image the upstream would have to fetch (rather than data it is given).
bool remote_url(std::string_view s) {
    // Leading blanks would not stop a lenient URL parser upstream.
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) {
        s.remove_prefix(1);
    }
    if (starts_with_nocase(s, "data:")) {
        return false;
    }
    // Base64 has no ':'; anything with a scheme (http, https, ftp, file, gopher, ...) is a URL.
    auto colon = s.find(':');
    return colon != std::string_view::npos && colon > 0 &&
           std::all_of(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(colon), [](char c) {
               return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '+' || c == '-' || c == '.';
           });
}

error remote_image_refused(const std::string& where) {
    return error{"invalid_field",
                 where +
                     " is a remote URL: this proxy passes images only as data: URLs or base64 "
                     "(the operator can allow remote images with --allow-remote-images)",
                 false};
}

result<void> check_images(const json& images, const std::string& where, const upstream_policy& p) {
    if (!images.is_array() || p.allow_remote_images) {
        return ok();
    }
    for (std::size_t i = 0; i < images.size(); ++i) {
        if (images[i].is_string() && remote_url(images[i].get_ref<const std::string&>())) {
            return remote_image_refused(where + "[" + std::to_string(i) + "]");
        }
    }
    return ok();
}

/// An OpenAI-style content array: text parts, and image_url parts holding data (a remote URL
/// only when allowed). Other part types (input_audio, file, video_url, ...) can make the
/// upstream fetch or decode what we never checked: refused by name.
result<void> check_content_parts(const json& content, const std::string& where, const upstream_policy& p) {
    if (!content.is_array()) {
        return ok();
    }
    for (std::size_t i = 0; i < content.size(); ++i) {
        const auto& part = content[i];
        auto at = where + "[" + std::to_string(i) + "]";
        if (!part.is_object()) {
            return fail("invalid_field", at + " must be an object");
        }
        auto type = part.find("type");
        std::string_view t = type != part.end() && type->is_string()
                                 ? std::string_view{type->get_ref<const std::string&>()}
                                 : std::string_view{};
        if (t == "text") {
            continue;
        }
        if (t != "image_url") {
            return fail("invalid_field", at + ".type must be \"text\" or \"image_url\"");
        }
        auto img = part.find("image_url");
        const json* url = nullptr;
        if (img != part.end() && img->is_string()) {
            url = &*img;
        } else if (img != part.end() && img->is_object()) {
            if (auto u = img->find("url"); u != img->end()) {
                url = &*u;
            }
        }
        if (url == nullptr || !url->is_string()) {
            return fail("invalid_field", at + ".image_url.url must be a string");
        }
        if (!p.allow_remote_images && remote_url(url->get_ref<const std::string&>())) {
            return remote_image_refused(at + ".image_url.url");
        }
    }
    return ok();
}

result<void> check_messages(const json& messages, const upstream_policy& p) {
    if (!messages.is_array()) {
        return ok();
    }
    for (std::size_t i = 0; i < messages.size(); ++i) {
        const auto& m = messages[i];
        if (!m.is_object()) {
            continue;
        }
        auto where = "messages[" + std::to_string(i) + "]";
        if (auto images = m.find("images"); images != m.end()) {
            if (auto r = check_images(*images, where + ".images", p); !r) {
                return r;
            }
        }
        if (auto content = m.find("content"); content != m.end()) {
            if (auto r = check_content_parts(*content, where + ".content", p); !r) {
                return r;
            }
        }
    }
    return ok();
}

json filter_options(const json& options, const upstream_policy& p, bool keep_mock_options) {
    json out = json::object();
    if (!options.is_object()) {
        return out;
    }
    for (const auto& [key, value] : options.items()) {
        if (key == "num_ctx") {
            // A bigger context is a bigger KV cache: clamped, and only a positive number.
            if (value.is_number() && value.get<double>() >= 1) {
                out[key] = value.get<double>() >= static_cast<double>(p.max_num_ctx) ? json(p.max_num_ctx)
                                                                                     : json(value.get<std::int64_t>());
            }
            continue;
        }
        if (among(sampling_options, key) || allowed_by_operator(p, key) ||
            (keep_mock_options && key.rfind("mock_", 0) == 0)) {
            out[key] = value;
        }
    }
    return out;
}

json filter_extra(const json& extra, const upstream_policy& p) {
    json out = json::object();
    if (!extra.is_object()) {
        return out;
    }
    for (const auto& [key, value] : extra.items()) {
        if (among(safe_extra_keys, key) || allowed_by_operator(p, key)) {
            out[key] = value;
        }
    }
    return out;
}

}  // namespace

result<std::pair<std::string, std::int64_t>> parse_model_cap(std::string_view spec) {
    auto bad = [&] {
        return fail("bad_config", "max tokens '" + std::string{spec} +
                                      "' is not MODEL=N with N from 1 to 1073741824 (e.g. llama3.2=8192)");
    };
    auto eq = spec.rfind('=');
    if (eq == std::string_view::npos || eq == 0) {
        return bad();
    }
    auto digits = spec.substr(eq + 1);
    std::int64_t n = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (ec != std::errc{} || ptr != digits.data() + digits.size() || n < 1 || n > (std::int64_t{1} << 30)) {
        return bad();
    }
    return std::pair{normalize_model_name(spec.substr(0, eq)), n};
}

std::int64_t max_tokens_for_model(const upstream_policy& policy, const std::string& model) {
    auto name = normalize_model_name(model);
    for (const auto& [m, cap] : policy.max_tokens_for) {
        if (normalize_model_name(m) == name) {
            return cap;
        }
    }
    return policy.max_tokens;
}

result<void> apply_upstream_policy(generation_request& req, const upstream_policy& policy, bool keep_mock_options) {
    if (req.kind == request_kind::chat) {
        if (auto r = check_messages(req.messages, policy); !r) {
            return r;
        }
    }
    if (req.extra.is_object()) {
        if (auto images = req.extra.find("images"); images != req.extra.end()) {
            if (auto r = check_images(*images, "images", policy); !r) {
                return r;
            }
        }
    }
    req.options = filter_options(req.options, policy, keep_mock_options);
    req.extra = filter_extra(req.extra, policy);
    req.max_tokens = std::max<std::int64_t>(1, max_tokens_for_model(policy, req.model));
    return ok();
}

token_limit token_limit_for(const generation_request& req, std::int64_t absent) {
    const std::int64_t cap = std::max<std::int64_t>(1, req.max_tokens);
    const json* n = nullptr;
    if (req.options.is_object()) {
        if (auto it = req.options.find("num_predict"); it != req.options.end() && it->is_number()) {
            n = &*it;
        }
    }
    if (n == nullptr || (n->is_number_integer() && n->get<std::int64_t>() == 0)) {
        // None (0 reads as none too, as in the mock's --mock-tokens): the provider's default.
        return absent > cap ? token_limit{cap, true} : token_limit{std::max<std::int64_t>(1, absent), false};
    }
    // Compared as double: no conversion of a client's 1e300 or 2^64-1 to an integer type.
    double v = n->get<double>();
    if (v < 1 || v > static_cast<double>(cap)) {
        // Negative is Ollama's "until the context is full" (-2) or "infinite" (-1).
        return {cap, true};
    }
    return {static_cast<std::int64_t>(v), false};
}

}  // namespace llmp::providers
