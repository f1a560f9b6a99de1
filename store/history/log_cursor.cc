// LogCursor: an event by LSN through the views' log positions.

#include "store/history/log_cursor.h"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "wfstore/errors.h"

#include "wfstore_internal/event_codec.h"
#include "wfstore_internal/log_reader.h"

namespace wfstore {

LogCursor::LogCursor(const ViewReader& views, const StoreDir& store,
                     std::shared_ptr<FileSystem> fs)
    : views_(views), store_(store), fs_(std::move(fs)) {}

log::SegmentReader& LogCursor::reader(std::uint64_t segment) {
  if (!reader_ || open_segment_ != segment) {
    reader_.reset();
    file_ =
        fs_->open_readable(store_.log_dir() / log::segment_file_name(segment));
    reader_.emplace(log::commit_segment_reader(*file_, segment));
    open_segment_ = segment;
  }
  return *reader_;
}

bool LogCursor::load_from(std::uint64_t segment, std::uint64_t offset,
                          std::uint64_t lsn) {
  std::optional<log::CommitRead> read =
      log::read_commit_at(reader(segment), store_.id(), segment, offset, lsn);
  if (!read) return false;
  commit_ = std::move(read->commit);
  events_.clear();
  segment_ = segment;
  next_offset_ = read->next_offset;
  return true;
}

void LogCursor::load(std::uint64_t lsn) {
  if (store_.is_replica()) {
    throw InvalidArgumentError(fmt::format(
        "{}: a read replica has no log: its events cannot be read (read them "
        "from the source store or its Kafka topic)",
        store_.dir().string()));
  }
  if (holds(lsn)) return;
  // The next LSN in order: the next commit of the segment, when it has one.
  const bool next_in_order =
      commit_.event_count != 0 && commit_.last_lsn() + 1 == lsn;
  if (next_in_order && load_from(segment_, next_offset_, lsn)) return;
  const std::optional<history_index::IndexedPosition> indexed =
      history_index::log_position_before(views_, lsn);
  bool loaded = false;
  if (!next_in_order && commit_.event_count != 0 && commit_.last_lsn() < lsn &&
      (!indexed || (indexed->position.segment_first_lsn == segment_ &&
                    indexed->first_lsn <= commit_.last_lsn()))) {
    // Forward from the commit read last: no index entry lies between.
    loaded = load_from(segment_, next_offset_, lsn);
  } else if (indexed) {
    loaded = load_from(indexed->position.segment_first_lsn,
                       indexed->position.offset, lsn);
  }
  if (!loaded) {
    // No usable position: the start of the segment that holds `lsn`.
    if (!segments_) segments_ = log::list_segments(*fs_, store_.log_dir());
    const auto it = std::upper_bound(segments_->begin(), segments_->end(), lsn);
    if (it != segments_->begin()) loaded = load_from(*(it - 1), 0, lsn);
  }
  if (!loaded || !holds(lsn)) {
    throw CorruptionError(fmt::format(
        "{}: the log holds no commit with lsn {}, which the views hold",
        store_.dir().string(), lsn));
  }
}

const log::Commit& LogCursor::commit(std::uint64_t lsn) {
  load(lsn);
  return commit_;
}

const Event& LogCursor::event(std::uint64_t lsn) {
  load(lsn);
  const std::uint64_t i = lsn - commit_.first_lsn;
  if (events_.empty() || taken_[i]) {
    DecodedCommit decoded =
        decoder_.decode(commit_.first_lsn, commit_.timestamp_ms,
                        commit_.event_count, commit_.body);
    ++commits_decoded_;
    events_ = std::move(decoded.events);
    taken_.assign(events_.size(), false);
  }
  return events_[i];
}

Event LogCursor::take_event(std::uint64_t lsn) {
  event(lsn);
  const std::uint64_t i = lsn - commit_.first_lsn;
  taken_[i] = true;
  return std::move(events_[i]);
}

}  // namespace wfstore
