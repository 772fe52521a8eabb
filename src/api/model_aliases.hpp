#pragma once
// model_aliases: the public model names an operator maps to served models
// (`--model-alias gpt-4o-mini=llama3.2:3b`, `default=...`, or a config file's [api.model-aliases]
// table). Built once at start-up (parse), then read-only: any thread may call every const member.
//
// The relay resolves a request's model once, at admission, before the key's model check and the
// routing: the request is queued under the target (what workers announce) and the alias rides
// along in request_message::model_alias for the replies and the audit. One hash lookup per
// request, on the name as the client sent it ("gpt-4o-mini" and "gpt-4o-mini:latest" are both
// keys), so no normalization is paid when no alias matches.

#include "common/result.hpp"

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace llmp::api {

class model_aliases {
public:
    struct alias {
        std::string name;    ///< as the operator wrote it: what clients send and see
        std::string target;  ///< the served model, normalized ("llama3.2" -> "llama3.2:latest")
    };

    model_aliases() = default;

    /// "ALIAS=MODEL" entries. Refused: no '=', an empty side, whitespace in a name, one alias
    /// given two targets, a target that is itself an alias (no chains: what a name means must be
    /// readable from one line).
    static result<model_aliases> parse(const std::vector<std::string>& entries);

    /// The served model `requested` stands for, or nullptr when it is no alias.
    const std::string* target_of(const std::string& requested) const {
        if (by_name_.empty()) {
            return nullptr;
        }
        auto it = by_name_.find(requested);
        return it == by_name_.end() ? nullptr : &it->second;
    }

    /// Every alias once, sorted by name.
    const std::vector<alias>& list() const { return list_; }
    bool empty() const { return list_.empty(); }

private:
    std::unordered_map<std::string, std::string> by_name_;  ///< name and normalized name -> target
    std::vector<alias> list_;
};

}  // namespace llmp::api
