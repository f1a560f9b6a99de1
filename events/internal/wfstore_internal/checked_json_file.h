// Small state files kept beside a store (durable subscription checkpoints,
// Kafka export positions): one JSON document framed by a format line and its
// checksum,
//
//   <header>\n<JSON document>\n<masked crc32c of the JSON, 8 hex digits>\n
//
// written with write_file_atomically (atomic_file.h), so a reader sees the
// old file or the new one, and a damaged one is refused, never half-read.
//
// Thread-safety: pure functions.

#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace wfstore {

// The bytes of a file of `header` (one line, no '\n') holding `doc`.
std::string encode_checked_json(std::string_view header,
                                const nlohmann::json& doc);

// The document of `bytes`, a file of `header`. `kind` names the file in
// errors ("subscription file") and `a_kind` with its article ("a
// subscription file"). Throws CorruptionError "<kind> <path>: <why>" for a
// wrong format line or framing ("not <a_kind> of format 1" for header
// "... 1"), a checksum mismatch, or a body that does not parse.
nlohmann::json decode_checked_json(std::string_view bytes,
                                   std::string_view header,
                                   std::string_view kind,
                                   std::string_view a_kind,
                                   const std::filesystem::path& path);

}  // namespace wfstore
