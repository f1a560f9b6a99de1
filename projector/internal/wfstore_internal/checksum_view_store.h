// A view-store decorator that folds every write into a running SHA-256 chain,
// the view checksum persisted in meta beside the applied LSN.

#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "wfstore_internal/view_meta.h"
#include "wfstore_internal/view_store.h"

namespace wfstore {

// 32 bytes of SHA-256; all zeros before the first write.
using ViewChecksum = std::array<std::uint8_t, 32>;

// Forwards every call to `inner`; after each successful put or del of a table
// that is_checksummed() (every table but meta and the log positions) it sets
//
//   checksum = SHA-256(checksum || u8 table || op || u32be key size || key
//                      [|| u32be value size || value])        op: 'P' put, 'D'
//                      delete
//
// so the checksum is a function of the ordered sequence of writes alone,
// however they are grouped into events or LMDB transactions, and any change to
// a table, key, value, order or put/delete kind changes it. Meta is skipped
// because it holds per-transaction bookkeeping (applied and durable LSN, the
// checksum itself), the log positions because they describe one copy's log.
//
// Not thread-safe. REQUIRES: `inner` outlives the decorator.
class ChecksumViewStore final : public ViewStore {
 public:
  explicit ChecksumViewStore(ViewStore& inner, const ViewChecksum& start = {});
  ~ChecksumViewStore() override;

  std::optional<std::string> get(Table table,
                                 std::string_view key) const override;
  void get_with(Table table, std::string_view key,
                const ValueFn& fn) const override;
  void scan(Table table, std::string_view from_key, std::string_view to_key,
            const ScanFn& fn, bool reverse = false) const override;
  void put(Table table, std::string_view key, std::string_view value) override;
  void del(Table table, std::string_view key) override;

  const ViewChecksum& checksum() const noexcept { return checksum_; }
  void set_checksum(const ViewChecksum& checksum) noexcept {
    checksum_ = checksum;
  }

 private:
  void fold(Table table, char op, std::string_view key,
            const std::string_view* value);

  class Hasher;
  ViewStore& inner_;
  ViewChecksum checksum_;
  std::unique_ptr<Hasher> hasher_;
};

// The checksum persisted in `reader`'s meta, or all zeros if none is. Throws
// CorruptionError if the stored value is not 32 bytes.
ViewChecksum read_checksum(const ViewReader& reader);

// Persists `checksum` in `store`'s meta. Throws what put() throws.
void write_checksum(ViewStore& store, const ViewChecksum& checksum);

// Lowercase hex of `checksum`, for tools and messages.
std::string to_hex(const ViewChecksum& checksum);

}  // namespace wfstore
