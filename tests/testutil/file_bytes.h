// The bytes of a whole file, for tests.

#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

namespace wfstore::testutil {

// The bytes of the file at `path` as it is when read (empty if it cannot be
// opened). One read call: a character-at-a-time stream iterator took seconds
// per MiB in the unoptimized sanitizer builds.
inline std::string read_file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return {};
  const std::streamoff size = std::max<std::streamoff>(in.tellg(), 0);
  std::string bytes(static_cast<std::size_t>(size), '\0');
  in.seekg(0);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  bytes.resize(
      static_cast<std::size_t>(std::max<std::streamsize>(in.gcount(), 0)));
  return bytes;
}

}  // namespace wfstore::testutil
