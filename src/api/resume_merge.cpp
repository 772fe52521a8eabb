#include "api/resume_merge.hpp"

#include <charconv>

namespace llmp::api {

void resume_merge::take_stored(const std::vector<stored_chunk>& rows, std::vector<stored_chunk>& out) {
    for (const auto& c : rows) {
        if (c.seq > last_) {
            out.push_back(c);
            last_ = c.seq;
        }
    }
}

void resume_merge::live(stored_chunk c) {
    pending_.push_back(std::move(c));
}

void resume_merge::take_live(std::vector<stored_chunk>& out) {
    while (!pending_.empty()) {
        auto& c = pending_.front();
        if (c.seq <= last_) {
            joined_ = true;  // the store gave this one: the live run goes on from here
            pending_.pop_front();
            continue;
        }
        if (!joined_ && !(last_ == 0 && c.seq == 1)) {
            return;  // chunks may be missing before it: wait for the store
        }
        joined_ = true;
        last_ = c.seq;
        out.push_back(std::move(c));
        pending_.pop_front();
    }
}

namespace {

/// Calls `f` with each SSE event of `rendered` (its text up to and with the blank line).
template <class F>
void for_each_event(std::string_view rendered, F&& f) {
    std::size_t pos = 0;
    while (pos < rendered.size()) {
        auto end = rendered.find("\n\n", pos);
        end = end == std::string_view::npos ? rendered.size() : end + 2;
        f(rendered.substr(pos, end - pos));
        pos = end;
    }
}

}  // namespace

void render_events_after(std::string_view rendered, std::int64_t& next_index, std::int64_t after, std::string& out) {
    for_each_event(rendered, [&](std::string_view ev) {
        if (!ev.starts_with(":") && next_index++ > after) {
            out.append(ev);
        }
    });
}

void render_events_with_id_after(std::string_view rendered, std::int64_t after, std::string& out) {
    for_each_event(rendered, [&](std::string_view ev) {
        // The id line: at the event's start or after a newline.
        auto at = ev.starts_with("id: ") ? 0 : ev.find("\nid: ");
        if (at == std::string_view::npos) {
            return;  // a keep-alive, or an event without an id (the start)
        }
        at += ev[at] == '\n' ? 5 : 4;
        std::int64_t id = 0;
        auto [ptr, ec] = std::from_chars(ev.data() + at, ev.data() + ev.size(), id);
        if (ec == std::errc{} && id > after) {
            out.append(ev);
        }
    });
}

}  // namespace llmp::api
