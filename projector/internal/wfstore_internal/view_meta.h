// The views' meta table: every key it holds, the view schema version, and the
// helpers that read and write them. Values are u64 big-endian unless a key's
// comment says otherwise.
//
// Keys written by fold() are a function of the log alone (a rebuild yields
// the same values: verify_store_views compares them); the rest is bookkeeping
// of one copy of the views (the writer's, a rebuild's).
//
// Thread-safety: the functions keep no state; the views' own rules apply.

#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "wfstore_internal/view_store.h"

namespace wfstore {

// ---- written by fold() (a function of the log) ----

// The LSN of the last folded event (absent: none), written by fold_events.
inline constexpr std::string_view kMetaAppliedLsn = "applied_lsn";
// One more than the largest delivery id pushed (absent means 1).
inline constexpr std::string_view kMetaNextDeliveryId = "next_delivery_id";
// The next string surrogate to assign (keys.h intern_id; absent means 1).
inline constexpr std::string_view kMetaNextId = "next_id";
// The number of queued deliveries (absent means 0).
inline constexpr std::string_view kMetaQueueSize = "queue_size";
// The number of dead letters (absent means 0).
inline constexpr std::string_view kMetaDlqSize = "dlq_size";

// ---- bookkeeping of one copy of the views ----

// The view checksum (checksum_view_store.h), 32 raw bytes.
inline constexpr std::string_view kMetaViewChecksum = "view_checksum";
// The largest LSN known durable in the log when the views were last written.
inline constexpr std::string_view kMetaDurableLsn = "durable_lsn";
// The timestamp (i64 big-endian, sign bit flipped) of the last folded commit.
inline constexpr std::string_view kMetaLastTimestamp = "last_timestamp_ms";
// The kViewSchemaVersion the views were built with.
inline constexpr std::string_view kMetaSchemaVersion = "view_schema_version";
// The boot id of the machine that last wrote the views (raw string).
inline constexpr std::string_view kMetaBootId = "boot_id";
// 1 once the writer closed the views with every commit durable, 0 while a
// writer has them open (write_clean_close).
inline constexpr std::string_view kMetaCleanClose = "clean_close";

// One schema version for every view; a mismatch rebuilds them all. Bump it
// with every change to a view's keys or values. 2: queue records end with the
// payload's task id. 3: the queue's poll index is keyed by attempt class.
// 4: the history indexes (entity, type, commit, actor, correlation, counts)
// and the log positions. 5: stage_order entries hold the stage's requisites.
// 6: processed_messages is keyed by the message id's hash (no surrogate).
// 7: stage_order entries hold the stage's outputs.
inline constexpr std::uint64_t kViewSchemaVersion = 7;

// The u64 (or i64) stored under `key` in meta, or nullopt when absent. Throws
// CorruptionError for a value of the wrong size, IOError from the views.
std::optional<std::uint64_t> meta_u64(const ViewReader& views,
                                      std::string_view key);
std::optional<std::int64_t> meta_i64(const ViewReader& views,
                                     std::string_view key);

// Writes kMetaCleanClose: 1 when `clean`, else 0.
void write_clean_close(ViewStore& views, bool clean);

}  // namespace wfstore
