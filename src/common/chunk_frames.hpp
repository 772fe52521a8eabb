#pragma once
// chunk_frames: the body of a multiplexed chunk message (routing key `<server-id>.chunks`): the
// pending chunks of every stream one worker serves for one API server, carried by ONE broker
// message per flush of the worker's publisher (broker/chunk_mux.hpp), and split again into
// per-stream chunks by the API server (api/response_router.cpp) and the chunk audit
// (audit/record.cpp). Headers of such a message: `worker` (one publisher = one worker).
//
// Wire format, binary so that reading it costs a few comparisons per frame (no JSON, no
// escaping; the text is raw UTF-8 as the upstream sent it). Every integer is an unsigned
// LEB128 varint of at most 10 bytes:
//
//   'L' 'C' 0x01                                  magic + version
//   frame*  (at least one):
//     [0 choice]                                   only for a choice other than 0 (n > 1): a zero
//                                                  where id_len would be, then the choice index
//                                                  (1..max_frame_choice); absent = choice 0, so
//                                                  n = 1 frames are as they always were
//     id_len  id[id_len]                          request id (1..256 bytes)
//     seq                                          tokens of that stream so far (1..2^63-1)
//     attempt                                      delivery number of the request (1..2^63-1)
//     text_len text[text_len]                      the tokens since the previous frame
//
// A message is untrusted input: decode_chunk_frames() never reads past the body and refuses
// (error `malformed_message`) a wrong magic, a truncated frame, an over-long varint, a value
// out of range, or a message without frames; it never throws.
//
// Pure functions, any thread.

#include "common/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llmp {

/// Content type of a chunk_frames body (the AMQP content_type property).
inline constexpr std::string_view chunk_frames_content_type = "application/x-llmp-chunk-frames";
/// The longest request id a frame carries (ours are ~30 characters).
inline constexpr std::size_t max_frame_request_id = 256;
/// The highest choice index a frame carries (requests ask for n <= 128, as OpenAI allows).
inline constexpr std::int64_t max_frame_choice = 127;

/// One stream's chunk inside a chunk_frames body; views into that body.
struct chunk_frame_view {
    std::string_view request_id;
    std::int64_t seq = 0;
    std::int64_t attempt = 1;
    std::string_view text;
    int choice = 0;  ///< the choice the text belongs to (n > 1); 0 when the frame names none
};

/// Starts a body: clears `out` and writes the magic.
void begin_chunk_frames(std::string& out);
/// Appends one frame (of choice `choice`, 0 for every request with n = 1). Programmer errors
/// (empty or over-long id, seq or attempt below 1, choice outside 0..max_frame_choice) abort.
void append_chunk_frame(std::string& out, std::string_view request_id, std::int64_t seq, std::int64_t attempt,
                        std::string_view text, int choice = 0);

/// Splits a body into its frames, in order (views into `body`: keep it alive). `frames` is
/// cleared first; on error it holds nothing usable.
result<void> decode_chunk_frames(std::string_view body, std::vector<chunk_frame_view>& frames);

}  // namespace llmp
