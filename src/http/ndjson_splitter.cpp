#include "http/ndjson_splitter.hpp"

namespace llmp::http_client {

result<void> ndjson_splitter::too_long() const {
    return fail("line_too_long", "an NDJSON line is longer than " + std::to_string(max_line_) +
                                     " bytes; the upstream is sending something that is not "
                                     "line-delimited JSON");
}

}  // namespace llmp::http_client
