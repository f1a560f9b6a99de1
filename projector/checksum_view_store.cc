// ChecksumViewStore: a SHA-256 chain over the writes.

#include "wfstore_internal/checksum_view_store.h"

#include <cstring>

#include <fmt/format.h>

#include "wfstore/errors.h"

#include "wfstore_internal/sha256.h"

namespace wfstore {

class ChecksumViewStore::Hasher : public Sha256 {
 public:
  std::string buffer;  // Reused for each write's record.
};

namespace {

void append_u32be(std::string& out, std::size_t size) {
  const auto v = static_cast<std::uint32_t>(size);
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>(v >> 16));
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

}  // namespace

ChecksumViewStore::ChecksumViewStore(ViewStore& inner,
                                     const ViewChecksum& start)
    : inner_(inner), checksum_(start), hasher_(std::make_unique<Hasher>()) {}

ChecksumViewStore::~ChecksumViewStore() = default;

std::optional<std::string> ChecksumViewStore::get(Table table,
                                                  std::string_view key) const {
  return inner_.get(table, key);
}

void ChecksumViewStore::get_with(Table table, std::string_view key,
                                 const ValueFn& fn) const {
  inner_.get_with(table, key, fn);
}

void ChecksumViewStore::scan(Table table, std::string_view from_key,
                             std::string_view to_key, const ScanFn& fn,
                             bool reverse) const {
  inner_.scan(table, from_key, to_key, fn, reverse);
}

void ChecksumViewStore::put(Table table, std::string_view key,
                            std::string_view value) {
  inner_.put(table, key, value);
  if (is_checksummed(table)) fold(table, 'P', key, &value);
}

void ChecksumViewStore::del(Table table, std::string_view key) {
  inner_.del(table, key);
  if (is_checksummed(table)) fold(table, 'D', key, nullptr);
}

void ChecksumViewStore::fold(Table table, char op, std::string_view key,
                             const std::string_view* value) {
  // Values are at most 16 MiB plus framing and keys 511 bytes, so u32 sizes
  // suffice. One buffer and one update: EVP's per-call overhead is a large part
  // of hashing small writes.
  std::string& buffer = hasher_->buffer;
  buffer.clear();
  buffer.append(reinterpret_cast<const char*>(checksum_.data()),
                checksum_.size());
  buffer.push_back(static_cast<char>(table));
  buffer.push_back(op);
  append_u32be(buffer, key.size());
  buffer.append(key);
  if (value != nullptr) {
    append_u32be(buffer, value->size());
    buffer.append(*value);
  }
  hasher_->update(buffer);
  checksum_ = hasher_->finish();
}

ViewChecksum read_checksum(const ViewReader& reader) {
  ViewChecksum checksum{};
  const std::optional<std::string> stored =
      reader.get(Table::kMeta, kMetaViewChecksum);
  if (!stored) return checksum;
  if (stored->size() != checksum.size()) {
    throw CorruptionError(fmt::format("views meta {}: {} bytes, expected {}",
                                      kMetaViewChecksum, stored->size(),
                                      checksum.size()));
  }
  std::memcpy(checksum.data(), stored->data(), checksum.size());
  return checksum;
}

void write_checksum(ViewStore& store, const ViewChecksum& checksum) {
  store.put(Table::kMeta, kMetaViewChecksum,
            std::string_view(reinterpret_cast<const char*>(checksum.data()),
                             checksum.size()));
}

std::string to_hex(const ViewChecksum& checksum) {
  std::string hex;
  hex.reserve(2 * checksum.size());
  for (std::uint8_t byte : checksum) hex += fmt::format("{:02x}", byte);
  return hex;
}

}  // namespace wfstore
