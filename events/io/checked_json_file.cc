// encode_checked_json / decode_checked_json (checked_json_file.h).

#include "wfstore_internal/checked_json_file.h"

#include <fmt/format.h>

#include "wfstore/errors.h"

#include "wfstore_internal/crc32c.h"

namespace wfstore {
namespace {

std::string checksum_text(std::string_view body) {
  return fmt::format("{:08x}",
                     crc32c::mask(crc32c::value(body.data(), body.size())));
}

}  // namespace

std::string encode_checked_json(std::string_view header,
                                const nlohmann::json& doc) {
  const std::string body = doc.dump();
  return fmt::format("{}\n{}\n{}\n", header, body, checksum_text(body));
}

nlohmann::json decode_checked_json(std::string_view bytes,
                                   std::string_view header,
                                   std::string_view kind,
                                   std::string_view a_kind,
                                   const std::filesystem::path& path) {
  const auto corrupt = [&](std::string_view why) {
    return CorruptionError(fmt::format("{} {}: {}", kind, path.string(), why));
  };
  const std::size_t first = bytes.find('\n');
  const std::size_t second =
      first == std::string_view::npos ? first : bytes.find('\n', first + 1);
  if (second == std::string_view::npos || bytes.substr(0, first) != header ||
      bytes.size() != second + 10 || bytes.back() != '\n') {
    const std::size_t version = header.rfind(' ');
    throw corrupt(
        fmt::format("not {} of format {}", a_kind, header.substr(version + 1)));
  }
  const std::string_view body = bytes.substr(first + 1, second - first - 1);
  if (bytes.substr(second + 1, 8) != checksum_text(body)) {
    throw corrupt("checksum mismatch");
  }
  try {
    return nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    throw corrupt(e.what());
  }
}

}  // namespace wfstore
