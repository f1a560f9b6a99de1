// Reads and writes of the views' meta table.

#include "wfstore_internal/view_meta.h"

#include <string>

#include "wfstore_internal/keys.h"

namespace wfstore {

std::optional<std::uint64_t> meta_u64(const ViewReader& views,
                                      std::string_view key) {
  const std::optional<std::string> value = views.get(Table::kMeta, key);
  if (!value) return std::nullopt;
  return keys::decode_u64(*value);
}

std::optional<std::int64_t> meta_i64(const ViewReader& views,
                                     std::string_view key) {
  const std::optional<std::string> value = views.get(Table::kMeta, key);
  if (!value) return std::nullopt;
  return keys::decode_i64(*value);
}

void write_clean_close(ViewStore& views, bool clean) {
  views.put(Table::kMeta, kMetaCleanClose, keys::encode_u64(clean ? 1 : 0));
}

}  // namespace wfstore
