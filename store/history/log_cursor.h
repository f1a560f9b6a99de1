// Reading events from a store's log by LSN, for the history API: the views'
// log positions (history_index.h) say where to start, the log is read forward
// from there to the commit that holds the LSN (log::read_commit_at), and that
// commit alone is decoded (only when one of its events is asked for: commit()
// hands out its bytes as stored). The LSN after the commit read last is read
// on from it without a look at the positions, and each block of a segment
// read in order is read once. Falls back to the nearest earlier indexed
// commit or the start of the LSN's segment where the positions lack one.
//
// Not thread-safe: one per call, on one thread, beside one views snapshot.

#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "wfstore/event.h"
#include "wfstore/file_system.h"

#include "wfstore_internal/event_codec.h"
#include "wfstore_internal/history_index.h"
#include "wfstore_internal/log_format.h"
#include "wfstore_internal/log_reader.h"
#include "wfstore_internal/store_dir.h"
#include "wfstore_internal/view_store.h"

namespace wfstore {

class LogCursor {
 public:
  // `views`, `store` and `fs` must outlive the cursor.
  LogCursor(const ViewReader& views, const StoreDir& store,
            std::shared_ptr<FileSystem> fs);

  // The event at `lsn`; valid until the next call. REQUIRES: 1 <= lsn <= the
  // views' applied LSN. Throws CorruptionError when the log lacks it or is
  // damaged on the way (naming segment and offset), InvalidArgumentError on a
  // read replica (no log), IOError.
  const Event& event(std::uint64_t lsn);
  // The event at `lsn`, moved out of the cursor, for a caller that reads
  // each LSN once (no copy of its payload). Asked for again, the commit is
  // decoded again. REQUIRES and throws as event().
  Event take_event(std::uint64_t lsn);
  // The commit record holding `lsn`, undecoded; valid until the next call.
  // REQUIRES and throws as event().
  const log::Commit& commit(std::uint64_t lsn);
  // The hash of the commit record holding the event event() or commit()
  // returned last.
  const log::Hash& commit_hash() const { return commit_.hash; }
  // The last LSN of that commit.
  std::uint64_t commit_last_lsn() const {
    return commit_.event_count == 0 ? 0 : commit_.last_lsn();
  }

  // Commits decoded so far (tests measure the cost of a query by it).
  std::uint64_t commits_decoded() const { return commits_decoded_; }

 private:
  // Reads the commit holding `lsn` from segment `segment` at `offset`, or
  // returns false when the segment ends before it.
  bool load_from(std::uint64_t segment, std::uint64_t offset,
                 std::uint64_t lsn);
  // Makes commit_ the commit holding `lsn`.
  void load(std::uint64_t lsn);
  bool holds(std::uint64_t lsn) const {
    return commit_.event_count != 0 && lsn >= commit_.first_lsn &&
           lsn <= commit_.last_lsn();
  }
  // The reader of segment `segment`, opened on demand.
  log::SegmentReader& reader(std::uint64_t segment);

  const ViewReader& views_;
  const StoreDir& store_;
  std::shared_ptr<FileSystem> fs_;
  std::optional<std::vector<std::uint64_t>> segments_;  // listed on demand
  std::uint64_t open_segment_ = 0;
  std::unique_ptr<ReadableFile> file_;
  // Reads file_, keeping the block it read last (reset with file_).
  std::optional<log::SegmentReader> reader_;
  // The commit read last, its events once decoded, and where the record
  // after it starts.
  log::Commit commit_;
  std::vector<Event> events_;
  std::vector<bool> taken_;  // events_[i] was moved out by take_event()
  CommitDecoder decoder_;
  std::uint64_t segment_ = 0;
  std::uint64_t next_offset_ = 0;
  std::uint64_t commits_decoded_ = 0;
};

}  // namespace wfstore
