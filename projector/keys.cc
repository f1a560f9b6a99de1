// Key decoding and string interning.

#include "wfstore_internal/keys.h"

#include <atomic>

#include <fmt/format.h>

#include "wfstore/errors.h"

#include "wfstore_internal/sha256.h"

namespace wfstore::keys {
namespace {

std::atomic<std::uint64_t (*)(std::string_view)> hash_override{nullptr};

std::uint64_t load_u64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

std::uint32_t load_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

void append_u32(std::string& out, std::uint32_t v) {
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>(v >> 16));
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

// Calls fn(surrogate, string) for each entry of an `ids` value until fn returns
// true; returns the surrogate fn accepted.
template <typename Fn>
std::optional<std::uint64_t> find_entry(std::string_view key,
                                        std::string_view value, Fn fn) {
  std::size_t pos = 0;
  while (pos < value.size()) {
    if (value.size() - pos < 12) {
      throw CorruptionError(fmt::format(
          "views table ids key {}: truncated entry at byte {}", hex(key), pos));
    }
    const std::uint64_t surrogate = load_u64(value.data() + pos);
    const std::uint32_t size = load_u32(value.data() + pos + 8);
    pos += 12;
    if (value.size() - pos < size) {
      throw CorruptionError(
          fmt::format("views table ids key {}: entry of {} bytes runs past the "
                      "value at byte {}",
                      hex(key), size, pos));
    }
    if (fn(surrogate, value.substr(pos, size))) return surrogate;
    pos += size;
  }
  return std::nullopt;
}

}  // namespace

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    const auto last = static_cast<std::uint8_t>(end.back());
    if (last != 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return end;
}

std::uint64_t decode_u64(std::string_view bytes) {
  if (bytes.size() != 8) {
    throw CorruptionError(fmt::format("view key part {}: {} bytes, expected 8",
                                      hex(bytes), bytes.size()));
  }
  return load_u64(bytes.data());
}

std::int64_t decode_i64(std::string_view bytes) {
  return static_cast<std::int64_t>(decode_u64(bytes) ^
                                   (std::uint64_t{1} << 63));
}

std::string_view KeyReader::take(std::size_t n) {
  if (key_.size() - pos_ < n) {
    throw CorruptionError(fmt::format(
        "view key {}: needs {} more bytes at byte {}", hex(key_), n, pos_));
  }
  std::string_view part = key_.substr(pos_, n);
  pos_ += n;
  return part;
}

std::uint64_t KeyReader::u64() { return load_u64(take(8).data()); }

std::int64_t KeyReader::i64() {
  return static_cast<std::int64_t>(u64() ^ (std::uint64_t{1} << 63));
}

void KeyReader::expect_done() const {
  if (!done()) {
    throw CorruptionError(
        fmt::format("view key {}: {} unexpected bytes at byte {}", hex(key_),
                    key_.size() - pos_, pos_));
  }
}

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * bytes.size());
  for (char c : bytes) {
    const auto b = static_cast<std::uint8_t>(c);
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

std::uint64_t id_hash(std::string_view s) {
  if (auto* hash = hash_override.load(std::memory_order_relaxed))
    return hash(s);
  const Sha256Digest digest = sha256(s);
  return load_u64(reinterpret_cast<const char*>(digest.data()));
}

IdHashes id_hashes(std::string_view s) {
  const Sha256Digest digest = sha256(s);
  const char* bytes = reinterpret_cast<const char*>(digest.data());
  IdHashes out;
  out.check = load_u64(bytes + 8);
  if (auto* hash = hash_override.load(std::memory_order_relaxed)) {
    out.hash = hash(s);
  } else {
    out.hash = load_u64(bytes);
  }
  return out;
}

std::optional<std::uint64_t> lookup_id(const ViewReader& views,
                                       std::string_view s) {
  // One reference captured: the callback fits std::function's own buffer.
  struct Lookup {
    std::string key;
    std::string_view s;
    std::optional<std::uint64_t> found;
  } lookup{encode_u64(id_hash(s)), s, std::nullopt};
  views.get_with(Table::kIds, lookup.key,
                 [&lookup](std::optional<std::string_view> value) {
                   if (!value) return;
                   lookup.found = find_entry(
                       lookup.key, *value,
                       [&lookup](std::uint64_t, std::string_view entry) {
                         return entry == lookup.s;
                       });
                 });
  return lookup.found;
}

std::uint64_t intern_id(ViewStore& views, std::string_view s) {
  const std::string key = encode_u64(id_hash(s));
  std::string value = views.get(Table::kIds, key).value_or(std::string());
  if (auto found = find_entry(
          key, value,
          [&](std::uint64_t, std::string_view entry) { return entry == s; })) {
    return *found;
  }
  if (s.size() > UINT32_MAX) {
    throw InvalidArgumentError(
        fmt::format("intern: string of {} bytes is too long", s.size()));
  }
  std::uint64_t surrogate = 1;
  if (const std::optional<std::string> next =
          views.get(Table::kMeta, kMetaNextId)) {
    surrogate = decode_u64(*next);
  }
  views.put(Table::kMeta, kMetaNextId, encode_u64(surrogate + 1));
  append_u64(value, surrogate);
  append_u32(value, static_cast<std::uint32_t>(s.size()));
  value.append(s);
  views.put(Table::kIds, key, value);
  return surrogate;
}

ScopedIdHashForTesting::ScopedIdHashForTesting(
    std::uint64_t (*hash)(std::string_view))
    : previous_(hash_override.exchange(hash)) {}

ScopedIdHashForTesting::~ScopedIdHashForTesting() {
  hash_override.store(previous_);
}

}  // namespace wfstore::keys
