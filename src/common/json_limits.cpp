#include "common/json_limits.hpp"

#include <string>
#include <utility>
#include <vector>

namespace llmp {
namespace {

using json = nlohmann::json;

/// nlohmann's DOM builder (detail::json_sax_dom_parser) plus a depth limit: the SAX driver
/// stops as soon as an event returns false. Pointers on `open_` stay valid: an open container
/// is never moved, only its last child is written.
class bounded_dom_builder {
public:
    bounded_dom_builder(json& root, std::size_t max_depth) : root_{root}, max_depth_{max_depth} {
        open_.reserve(max_depth);
    }

    bool null() { return put(nullptr) != nullptr; }
    bool boolean(bool v) { return put(v) != nullptr; }
    bool number_integer(json::number_integer_t v) { return put(v) != nullptr; }
    bool number_unsigned(json::number_unsigned_t v) { return put(v) != nullptr; }
    bool number_float(json::number_float_t v, const json::string_t& /*text*/) { return put(v) != nullptr; }
    bool string(json::string_t& v) { return put(std::move(v)) != nullptr; }
    bool binary(json::binary_t& v) { return put(json::binary(std::move(v))) != nullptr; }
    bool start_object(std::size_t /*elements*/) { return open(json::value_t::object); }
    bool key(json::string_t& k) {
        slot_ = &(*open_.back())[std::move(k)];  // a repeated key: the last value wins, as in nlohmann
        return true;
    }
    bool end_object() { return close(); }
    bool start_array(std::size_t /*elements*/) { return open(json::value_t::array); }
    bool end_array() { return close(); }
    bool parse_error(std::size_t position, const std::string& /*last_token*/, const json::exception& /*e*/) {
        error_at_ = position;
        return false;
    }

    bool too_deep() const { return too_deep_; }
    std::size_t error_at() const { return error_at_; }

private:
    json* put(json v) {
        if (open_.empty()) {
            root_ = std::move(v);
            return &root_;
        }
        json& parent = *open_.back();
        if (parent.is_array()) {
            parent.push_back(std::move(v));
            return &parent.back();
        }
        *slot_ = std::move(v);
        return slot_;
    }
    bool open(json::value_t type) {
        if (open_.size() >= max_depth_) {
            too_deep_ = true;
            return false;
        }
        open_.push_back(put(json(type)));
        return true;
    }
    bool close() {
        open_.pop_back();
        return true;
    }

    json& root_;
    const std::size_t max_depth_;
    std::vector<json*> open_;  // the containers being filled, outermost first
    json* slot_ = nullptr;     // the value of the last key read
    bool too_deep_ = false;
    std::size_t error_at_ = 0;
};

}  // namespace

result<nlohmann::json> parse_json_bounded(std::string_view text, std::size_t max_depth) {
    json root;
    bounded_dom_builder builder{root, max_depth};
    if (json::sax_parse(text, &builder)) {
        return root;
    }
    if (builder.too_deep()) {
        return fail("invalid_json", "nested deeper than " + std::to_string(max_depth) + " levels");
    }
    return fail("invalid_json", "not valid JSON (at byte " + std::to_string(builder.error_at()) + ")");
}

}  // namespace llmp
