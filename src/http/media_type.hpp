#pragma once
// Media types of request bodies. Pure functions, any thread.

#include "http/server.hpp"

#include <string_view>

namespace llmp::http_server {

/// Whether a Content-Type value names JSON: "application/json", in any case, with or without
/// parameters ("application/json; charset=utf-8"). A browser cannot send that cross-site without
/// a CORS preflight, unlike text/plain or form encodings, so requiring it keeps a web page from
/// firing requests at the API.
bool is_json_media_type(std::string_view content_type);

/// is_json_media_type of the request's Content-Type (false when there is none).
bool has_json_body(const request& req);

}  // namespace llmp::http_server
