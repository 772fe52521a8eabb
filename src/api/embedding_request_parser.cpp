#include "api/embedding_request_parser.hpp"

#include "api/field_checks.hpp"
#include "api/json_body.hpp"

namespace llmp::api {
namespace {

using json = nlohmann::json;

auto invalid(const std::string& what) {
    return fail("invalid_field", what);
}

result<void> model_of(const json& j, request_message& m, const char* hint) {
    auto model = j.find("model");
    if (model == j.end() || !model->is_string() || model->get_ref<const std::string&>().empty()) {
        return fail("missing_field", std::string{"model is required ("} + hint + ")");
    }
    m.model = model->get<std::string>();
    return ok();
}

/// input: a string or a non-empty array of strings, at most max_embedding_inputs.
result<json> inputs_of(const json& j) {
    auto input = j.find("input");
    if (input == j.end() || input->is_null()) {
        return fail("missing_field", "input is required (a string or an array of strings)");
    }
    if (input->is_string()) {
        return json::array({*input});
    }
    if (!input->is_array() || input->empty()) {
        return invalid("input must be a string or a non-empty array of strings");
    }
    if (input->size() > max_embedding_inputs) {
        return invalid("input holds " + std::to_string(input->size()) + " texts; at most " +
                       std::to_string(max_embedding_inputs) + " per request");
    }
    for (std::size_t i = 0; i < input->size(); ++i) {
        if (!(*input)[i].is_string()) {
            return invalid("input[" + std::to_string(i) +
                           "] must be a string (token arrays are not supported: send the text)");
        }
    }
    return *input;
}

result<void> copy_dimensions(const json& j, request_message& m) {
    auto d = integer_field(j, "dimensions", 1, 1 << 20);
    if (!d) {
        return d.error();
    }
    if (d.value()) {
        m.extra["dimensions"] = *d.value();
    }
    return ok();
}

embedding_request embed_request(const char* flavour) {
    embedding_request r;
    r.msg.kind = request_kind::embed;
    r.msg.api_flavour = flavour;
    r.msg.stream = false;
    return r;
}

}  // namespace

result<embedding_request> parse_openai_embedding_request(std::string_view body) {
    auto parsed = parse_json_object(body);
    if (!parsed) {
        return parsed.error();
    }
    const json& j = parsed.value();
    auto r = embed_request("openai");
    if (auto m = model_of(j, r.msg, "one of the ids GET /v1/models lists"); !m) {
        return m.error();
    }
    auto input = inputs_of(j);
    if (!input) {
        return input.error();
    }
    for (const auto& s : input.value()) {
        if (s.get_ref<const std::string&>().empty()) {
            return invalid("input must not contain empty strings");
        }
    }
    r.msg.input = std::move(input.value());
    if (auto f = j.find("encoding_format"); f != j.end() && !f->is_null()) {
        if (*f != "float" && *f != "base64") {
            return invalid("encoding_format must be \"float\" or \"base64\"");
        }
        r.base64 = *f == "base64";
    }
    if (auto d = copy_dimensions(j, r.msg); !d) {
        return d.error();
    }
    if (auto user = j.find("user"); user != j.end() && !user->is_null()) {
        if (!user->is_string()) {
            return invalid("user must be a string");
        }
        r.msg.extra["user"] = *user;  // kept with the request for the audit
    }
    return r;
}

result<embedding_request> parse_ollama_embedding_request(std::string_view body, bool legacy) {
    auto parsed = parse_json_object(body);
    if (!parsed) {
        return parsed.error();
    }
    json j = std::move(parsed.value());
    auto r = embed_request("ollama");
    if (auto m = model_of(j, r.msg, "a model name such as \"nomic-embed-text\""); !m) {
        return m.error();
    }
    if (legacy) {
        auto prompt = j.find("prompt");
        if (prompt == j.end() || !prompt->is_string()) {
            return fail("missing_field", "prompt is required (the text to embed)");
        }
        r.msg.input = json::array({*prompt});
    } else {
        auto input = inputs_of(j);
        if (!input) {
            return input.error();
        }
        r.msg.input = std::move(input.value());
        if (auto t = j.find("truncate"); t != j.end() && !t->is_null()) {
            if (!t->is_boolean()) {
                return invalid("truncate must be true or false");
            }
            r.msg.extra["truncate"] = *t;
        }
        if (auto d = copy_dimensions(j, r.msg); !d) {
            return d.error();
        }
    }
    if (auto opts = j.find("options"); opts != j.end() && !opts->is_null()) {
        if (!opts->is_object()) {
            return invalid("options must be an object");
        }
        if (auto v = check_ollama_options(*opts); !v) {
            return v.error();
        }
        r.msg.options = std::move(*opts);
    }
    if (auto k = j.find("keep_alive"); k != j.end() && !k->is_null()) {
        r.msg.extra["keep_alive"] = std::move(*k);  // the worker's policy decides (off by default)
    }
    return r;
}

}  // namespace llmp::api
