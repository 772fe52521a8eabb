#include "monitor/static_files.hpp"

#include "common/errc.hpp"
#include "http/error_response.hpp"
#include "monitor/query_string.hpp"

#include <fstream>
#include <sstream>

namespace llmp::monitor {

namespace fs = std::filesystem;

std::string_view content_type_for(const fs::path& file) {
    auto ext = file.extension().string();
    if (ext == ".html") {
        return "text/html; charset=utf-8";
    }
    if (ext == ".js" || ext == ".mjs") {
        return "text/javascript; charset=utf-8";
    }
    if (ext == ".css") {
        return "text/css; charset=utf-8";
    }
    if (ext == ".json" || ext == ".map") {
        return "application/json";
    }
    if (ext == ".svg") {
        return "image/svg+xml";
    }
    if (ext == ".png") {
        return "image/png";
    }
    if (ext == ".ico") {
        return "image/x-icon";
    }
    if (ext == ".woff2") {
        return "font/woff2";
    }
    if (ext == ".txt") {
        return "text/plain; charset=utf-8";
    }
    return "application/octet-stream";
}

static_files::static_files(fs::path root) {
    std::error_code ec;
    auto canon = fs::weakly_canonical(root, ec);
    root_ = ec ? root : canon;
}

std::optional<fs::path> static_files::resolve(std::string_view path) const {
    std::string decoded = percent_decode(path.substr(0, path.find_first_of("?#")));
    if (decoded.empty() || decoded[0] != '/' || decoded.find('\0') != std::string::npos ||
        decoded.find('\\') != std::string::npos) {
        return std::nullopt;
    }
    // Refuse any "." or ".." segment outright instead of normalising it.
    fs::path rel;
    std::string_view rest{decoded};
    while (!rest.empty()) {
        auto slash = rest.find('/');
        auto seg = rest.substr(0, slash);
        rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
        if (seg.empty()) {
            continue;
        }
        if (seg == "." || seg == "..") {
            return std::nullopt;
        }
        rel /= std::string{seg};
    }
    if (rel.empty() || decoded.back() == '/') {
        rel /= "index.html";
    }
    std::error_code ec;
    auto file = fs::weakly_canonical(root_ / rel, ec);
    if (ec) {
        return std::nullopt;
    }
    // A symlink may still point out of the root: compare the resolved path.
    auto [r, f] = std::mismatch(root_.begin(), root_.end(), file.begin(), file.end());
    if (r != root_.end()) {
        return std::nullopt;
    }
    if (!fs::is_regular_file(file, ec)) {
        return std::nullopt;
    }
    return file;
}

http_server::response static_files::serve(const http_server::request& req) const {
    using http_server::error_response;
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
        auto res = error_response(make_error(errc::method_not_allowed, "only GET and HEAD are served here"));
        res.set(http::field::allow, "GET, HEAD");
        return res;
    }
    std::string_view target = req.target();
    auto file = resolve(target);
    if (!file) {
        std::string path{target.substr(0, target.find('?'))};
        std::string hint = fs::exists(root_ / "index.html") ? ""
                                                            : " (the dashboard is not built: run `npm ci && npm run "
                                                              "build` in web/, or pass --web-dir)";
        return error_response(make_error(errc::not_found, "no file for " + path + hint));
    }
    std::ifstream in{*file, std::ios::binary};
    std::ostringstream body;
    body << in.rdbuf();
    http_server::response res{http::status::ok, 11};
    res.set(http::field::content_type, std::string{content_type_for(*file)});
    res.set(http::field::cache_control, "no-cache");
    res.set("X-Content-Type-Options", "nosniff");
    res.body() = body.str();
    return res;
}

}  // namespace llmp::monitor
