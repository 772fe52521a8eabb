#include "common/chunk_frames.hpp"

#include <cstdlib>
#include <limits>

namespace llmp {
namespace {

constexpr char magic[] = {'L', 'C', '\x01'};
constexpr std::size_t magic_size = sizeof(magic);
constexpr std::uint64_t max_int64 = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

void put_varint(std::string& out, std::uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<char>((v & 0x7F) | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<char>(v));
}

/// Reads the body a piece at a time; every read checks what is left.
class reader {
public:
    explicit reader(std::string_view s) : s_{s} {}
    bool done() const { return pos_ == s_.size(); }
    bool varint(std::uint64_t& v) {
        v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos_ == s_.size()) {
                return false;
            }
            auto byte = static_cast<unsigned char>(s_[pos_++]);
            if (shift == 63 && byte > 1) {
                return false;  // past 64 bits
            }
            v |= static_cast<std::uint64_t>(byte & 0x7F) << shift;
            if ((byte & 0x80) == 0) {
                return true;
            }
        }
        return false;  // a tenth byte with its continuation bit set
    }
    bool bytes(std::uint64_t n, std::string_view& out) {
        if (n > s_.size() - pos_) {
            return false;
        }
        out = s_.substr(pos_, n);
        pos_ += n;
        return true;
    }

private:
    std::string_view s_;
    std::size_t pos_ = 0;
};

auto malformed(std::string_view what) {
    return fail("malformed_message", "chunk frames: " + std::string{what});
}

}  // namespace

void begin_chunk_frames(std::string& out) {
    out.assign(magic, magic_size);
}

void append_chunk_frame(std::string& out, std::string_view request_id, std::int64_t seq, std::int64_t attempt,
                        std::string_view text, int choice) {
    if (request_id.empty() || request_id.size() > max_frame_request_id || seq < 1 || attempt < 1 || choice < 0 ||
        choice > max_frame_choice) {
        std::abort();  // the worker's own values: a programmer error
    }
    if (choice != 0) {
        put_varint(out, 0);
        put_varint(out, static_cast<std::uint64_t>(choice));
    }
    put_varint(out, request_id.size());
    out.append(request_id);
    put_varint(out, static_cast<std::uint64_t>(seq));
    put_varint(out, static_cast<std::uint64_t>(attempt));
    put_varint(out, text.size());
    out.append(text);
}

result<void> decode_chunk_frames(std::string_view body, std::vector<chunk_frame_view>& frames) {
    frames.clear();
    if (body.substr(0, magic_size) != std::string_view{magic, magic_size}) {
        return malformed("not a chunk frames body (magic)");
    }
    reader r{body.substr(magic_size)};
    if (r.done()) {
        return malformed("no frame");
    }
    while (!r.done()) {
        chunk_frame_view f;
        std::uint64_t id_len = 0, seq = 0, attempt = 0, text_len = 0;
        if (!r.varint(id_len)) {
            frames.clear();
            return malformed("bad request id");
        }
        if (id_len == 0) {
            // A choice index first (n > 1), then the frame as usual.
            std::uint64_t choice = 0;
            if (!r.varint(choice) || choice == 0 || choice > static_cast<std::uint64_t>(max_frame_choice)) {
                frames.clear();
                return malformed("bad choice index");
            }
            f.choice = static_cast<int>(choice);
            if (!r.varint(id_len)) {
                frames.clear();
                return malformed("bad request id");
            }
        }
        if (id_len == 0 || id_len > max_frame_request_id || !r.bytes(id_len, f.request_id)) {
            frames.clear();
            return malformed("bad request id");
        }
        if (!r.varint(seq) || seq == 0 || seq > max_int64 || !r.varint(attempt) || attempt == 0 ||
            attempt > max_int64) {
            frames.clear();
            return malformed("bad seq or attempt");
        }
        if (!r.varint(text_len) || !r.bytes(text_len, f.text)) {
            frames.clear();
            return malformed("truncated text");
        }
        f.seq = static_cast<std::int64_t>(seq);
        f.attempt = static_cast<std::int64_t>(attempt);
        frames.push_back(f);
    }
    return ok();
}

}  // namespace llmp
