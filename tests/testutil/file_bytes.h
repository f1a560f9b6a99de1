// The bytes of a whole file and whether this process maps it, for tests and
// the fuzz tools.

#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

namespace wfstore::testutil {

// The bytes of the file at `path` as it is when read, or nullopt if it cannot
// be opened. One read call: a character-at-a-time stream iterator took
// seconds per MiB in the unoptimized sanitizer builds.
inline std::optional<std::string> try_read_file_bytes(
    const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return std::nullopt;
  const std::streamoff size = std::max<std::streamoff>(in.tellg(), 0);
  std::string bytes(static_cast<std::size_t>(size), '\0');
  in.seekg(0);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  bytes.resize(
      static_cast<std::size_t>(std::max<std::streamsize>(in.gcount(), 0)));
  return bytes;
}

// try_read_file_bytes(), empty if the file cannot be opened.
inline std::string read_file_bytes(const std::filesystem::path& path) {
  return try_read_file_bytes(path).value_or(std::string());
}

// The start address of a writable shared mapping of the file at `path` in
// this process (a line of /proc/self/maps with "rw-s" naming it), or 0.
inline std::uintptr_t writable_mapping_of(const std::filesystem::path& path) {
  std::ifstream maps("/proc/self/maps");
  const std::string name = std::filesystem::absolute(path).string();
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find(" rw-s ") != std::string::npos &&
        line.size() >= name.size() &&
        line.compare(line.size() - name.size(), name.size(), name) == 0) {
      return static_cast<std::uintptr_t>(std::stoull(line, nullptr, 16));
    }
  }
  return 0;
}

// Whether this process has the file at `path` mapped writable and shared.
inline bool is_mapped_for_writes(const std::filesystem::path& path) {
  return writable_mapping_of(path) != 0;
}

}  // namespace wfstore::testutil
