#pragma once
// static_files: the built dashboard (web/dist) served at "/". Maps a request path to a file
// under the root and answers it with its content type; "/" is index.html. A path that is not
// plainly inside the root (.., encoded .., backslashes, NUL, symlinks out of the root) is
// refused with 404 — never a file outside it.
//
// Threading: const after construction; any thread. The files are small and local, read per
// request (so a rebuilt dist is served at once) with Cache-Control: no-cache.

#include "http/server.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace llmp::monitor {

class static_files {
public:
    explicit static_files(std::filesystem::path root);

    /// The file for a request path ("/assets/app.js"), or nullopt when there is none (or the
    /// path is refused).
    std::optional<std::filesystem::path> resolve(std::string_view path) const;
    /// 200 with the file, 404 (JSON error) when absent, 405 for a method other than GET/HEAD.
    http_server::response serve(const http_server::request& req) const;
    const std::filesystem::path& root() const { return root_; }

private:
    std::filesystem::path root_;
};

/// "text/html; charset=utf-8" for .html, ... "application/octet-stream" when unknown.
std::string_view content_type_for(const std::filesystem::path& file);

}  // namespace llmp::monitor
