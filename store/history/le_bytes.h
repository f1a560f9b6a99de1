// Helpers of the history files (ORIGIN, bundles; docs/formats.md): their
// little-endian fixed-width integers and their version check.

#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <type_traits>

#include <fmt/format.h>

#include "wfstore/errors.h"

namespace wfstore::le {

// Appends `value` in sizeof(T) little-endian bytes.
template <typename T>
void put(std::string& out, T value) {
  static_assert(std::is_unsigned_v<T>);
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xffu));
  }
}

// Reads sizeof(T) little-endian bytes at `pos`. REQUIRES: they exist.
template <typename T>
T get(std::string_view in, std::size_t pos) {
  static_assert(std::is_unsigned_v<T>);
  T value = 0;
  for (std::size_t i = sizeof(T); i-- > 0;) {
    value =
        static_cast<T>((value << 8) | static_cast<unsigned char>(in[pos + i]));
  }
  return value;
}

// Throws InvalidArgumentError naming `path` unless `version` of the `format`
// file ("bundle", "origin") is `supported`.
inline void check_version(const std::filesystem::path& path,
                          std::string_view format, std::uint32_t version,
                          std::uint32_t supported) {
  if (version == supported) return;
  throw InvalidArgumentError(
      fmt::format("{}: {} format version {} is not supported (this build "
                  "reads version {})",
                  path.string(), format, version, supported));
}

}  // namespace wfstore::le
