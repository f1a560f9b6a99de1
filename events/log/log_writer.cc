// The log writer: appends, segment rolls, syncs and poisoning.

#include "wfstore_internal/log_writer.h"

#include <algorithm>
#include <exception>
#include <utility>

#include <fmt/format.h>

#include "wfstore/errors.h"
#include "wfstore/limits.h"

#include "events/log/log_recovery.h"
#include "wfstore_internal/exception_text.h"

namespace wfstore::log {

Writer::Writer(PrivateTag, std::shared_ptr<FileSystem> fs,
               std::filesystem::path log_dir, const StoreId& store_id,
               WriterOptions options)
    : fs_(std::move(fs)),
      log_dir_(std::move(log_dir)),
      store_uuid_(store_id.bytes),
      options_(std::move(options)) {}

Writer::~Writer() {
  try {
    close();
  } catch (const std::exception& e) {
    if (options_.logger) {
      options_.logger(
          LogLevel::kError,
          fmt::format("closing log segment {}: {}", segment(), what_of(e)));
    }
  }
}

std::unique_ptr<Writer> Writer::open(const std::shared_ptr<FileSystem>& fs,
                                     const std::filesystem::path& log_dir,
                                     const StoreId& store_id,
                                     WriterOptions options) {
  if (options.roll_bytes == 0)
    throw InvalidArgumentError("roll_bytes must be positive");
  // Recovery is planned (reads only) and checked before anything changes.
  const bool exists = fs->exists(log_dir);
  const RecoveryPlan plan =
      exists ? plan_log_recovery(*fs, log_dir, store_id.bytes) : RecoveryPlan{};
  if (options.check_recovered_end) options.check_recovered_end(plan.last_lsn);
  if (!exists) {
    fs->create_directories(log_dir);
    if (log_dir.has_parent_path()) fs->sync_dir(log_dir.parent_path());
  }
  auto w = std::make_unique<Writer>(PrivateTag(), fs, log_dir, store_id,
                                    std::move(options));
  RecoveredLog recovered =
      apply_log_recovery(*fs, log_dir, plan, w->options_.logger);
  if (!recovered.file) {
    w->create_segment(1, 0);
    return w;
  }
  // A writer that died between a new segment's header and the sync of the
  // directory left the segment's name unsynced: the records appended to it
  // from here on would not survive a power cut.
  fs->sync_dir(log_dir);
  w->file_ = std::move(recovered.file);
  w->segment_first_lsn_ = recovered.segment_first_lsn;
  w->end_ = w->file_->size();  // recovery cut any zeros after the records
  w->block_offset_ = static_cast<std::size_t>(w->end_ % kBlockSize);
  w->start_filling();
  w->last_lsn_ = recovered.last_lsn;
  w->durable_lsn_ = recovered.last_lsn;
  w->last_hash_ = recovered.last_hash;
  return w;
}

void Writer::throw_unusable_locked() const {
  if (state_.load() == State::kPoisoned) {
    throw IOError(fmt::format(
        "log writer for {} is unusable after an earlier failure ({}); "
        "reopen it",
        log_dir_.string(), poison_reason_));
  }
  throw IOError(fmt::format("log writer for {} is closed", log_dir_.string()));
}

void Writer::check_usable_locked() const {
  if (state_.load() != State::kOpen) throw_unusable_locked();
}

std::string Writer::poison_reason() const {
  const std::scoped_lock lock(sync_mu_);
  return poison_reason_;
}

Hash Writer::append(std::uint64_t first_lsn, std::uint32_t event_count,
                    std::int64_t timestamp_ms, std::string_view body) {
  // Only this thread appends; a poisoning by the syncer that this check
  // misses is caught by the next sync() or roll(), under the sync lock.
  if (state_.load() != State::kOpen) {
    const std::scoped_lock lock(sync_mu_);
    throw_unusable_locked();
  }
  if (first_lsn != last_lsn_ + 1) {
    throw InvalidArgumentError(
        fmt::format("first_lsn {} is not dense: the log's next lsn is {}",
                    first_lsn, last_lsn_ + 1));
  }
  if (event_count == 0)
    throw InvalidArgumentError("event_count must be at least 1");
  if (event_count > kMaxCommitEvents) {
    throw InvalidArgumentError(
        fmt::format("event_count {} exceeds the limit of {} per commit",
                    event_count, kMaxCommitEvents));
  }
  if (first_lsn > UINT64_MAX - event_count) {
    // decode_commit() rejects such a record: the log's LSNs are exhausted.
    throw InvalidArgumentError(fmt::format(
        "commit of {} events at lsn {} passes the last lsn the log can hold",
        event_count, first_lsn));
  }
  if (body.size() > kMaxCommitBytes) {
    throw InvalidArgumentError(
        fmt::format("commit body of {} bytes exceeds the limit of {}",
                    body.size(), kMaxCommitBytes));
  }
  const std::uint64_t size = kCommitFixedSize + body.size();
  if (last_lsn_ >= segment_first_lsn_ &&
      end_ + framed_size(size, block_offset_) > options_.roll_bytes) {
    roll();  // Throws IOError when the writer is (or becomes) unusable.
  }
  try {
    Hash hash{};
    const std::string payload =
        encode_commit(first_lsn, event_count, timestamp_ms, durable_lsn_.load(),
                      last_hash_, body, &hash);
    std::string framed;
    std::size_t block_offset = block_offset_;
    const std::uint64_t start = end_;
    frame_record(payload, &block_offset, &framed);
    fill_ahead(framed.size());
    write_at_end(framed);
    // The first fragment follows a block trailer, if one was padded.
    last_commit_segment_ = segment_first_lsn_;
    last_commit_offset_ = start + (kBlockSize - block_offset_ < kHeaderSize
                                       ? kBlockSize - block_offset_
                                       : 0);
    block_offset_ = block_offset;
    last_lsn_.store(first_lsn + event_count - 1);
    last_hash_ = hash;
    return hash;
  } catch (const std::exception& e) {
    poison(what_of(e).data());
    throw;
  }
}

void Writer::start_filling() {
  filling_ = can_fill();
  if (filling_ && options_.mapped_writes) {
    // A segment is sealed once its records pass roll_bytes; the zeros run
    // up to fill_bytes past them. Writes past the mapping are system calls.
    constexpr std::uint64_t kLimit = std::uint64_t{1} << 32;
    file_->map_writes(std::min(options_.roll_bytes, kLimit) +
                      std::min(options_.fill_bytes, kLimit) +
                      kDefaultFillBytes);
  }
}

void Writer::fill_ahead(std::uint64_t bytes) {
  if (!filling_) return;
  const std::uint64_t size = file_->size();
  if (end_ + bytes <= size) return;
  static const std::string kZeros(kDefaultFillBytes, '\0');
  const std::uint64_t target = end_ + bytes + options_.fill_bytes;
  try {
    for (std::uint64_t at = size; at < target;) {
      const std::uint64_t n =
          std::min<std::uint64_t>(kZeros.size(), target - at);
      file_->append(std::string_view(kZeros.data(), n));
      at += n;
    }
  } catch (const std::exception& e) {
    // Whatever zeros were written stay after the records; the records go on
    // without the fill.
    filling_ = false;
    if (options_.logger) {
      options_.logger(LogLevel::kWarning,
                      fmt::format("log segment {}: writing zeros ahead failed "
                                  "({}); records append from here",
                                  segment(), what_of(e)));
    }
  }
}

void Writer::write_at_end(std::string_view framed) {
  if (end_ == file_->size()) {
    file_->append(framed);
  } else {
    file_->write_at(end_, framed);
  }
  end_ += framed.size();
}

void Writer::poison(const char* reason) {
  const std::scoped_lock lock(sync_mu_);
  poison_locked(reason);
}

void Writer::poison_locked(const char* reason) {
  if (state_.load() != State::kOpen) return;
  poison_reason_ = reason;
  state_.store(State::kPoisoned);
}

void Writer::sync() {
  wait_hook();
  const std::scoped_lock lock(sync_mu_);
  check_usable_locked();
  sync_locked();
}

bool Writer::sync_concurrently() {
  const std::scoped_lock lock(sync_mu_);
  if (state_.load() == State::kClosed) return false;
  check_usable_locked();
  return sync_locked();
}

bool Writer::sync_locked() {
  // Every byte of the commits up to `target` was written before last_lsn_ was
  // stored, so this fdatasync covers them.
  const std::uint64_t target = last_lsn_.load();
  if (durable_lsn_.load() >= target) return false;
  try {
    file_->sync();
  } catch (const std::exception& e) {
    poison_locked(what_of(e).data());
    throw;
  }
  durable_lsn_.store(target);
  return true;
}

void Writer::close() {
  const std::scoped_lock lock(sync_mu_);
  const State state = state_.load();
  if (state == State::kClosed) return;
  state_.store(State::kClosed);
  if (!file_) return;
  // A poisoned writer leaves its file as the failure left it. The file is
  // closed even when the cut fails.
  std::exception_ptr error;
  if (state == State::kOpen) {
    try {
      if (file_->size() > end_) file_->truncate(end_);
    } catch (const std::exception&) {
      error = std::current_exception();
    }
  }
  file_->close();
  if (error) std::rethrow_exception(error);
}

void Writer::roll() {
  wait_hook();
  const std::scoped_lock lock(sync_mu_);
  // A sync that failed beside this thread (the background syncer) poisoned
  // the writer: sealing now would trust an fdatasync of the same descriptor,
  // which can answer 0 for the data that failed.
  check_usable_locked();
  try {
    // Seal: the old segment, without the zeros written ahead, is durable
    // before the next header exists.
    if (file_->size() > end_) file_->truncate(end_);
    file_->sync();
    durable_lsn_.store(last_lsn_.load());
    file_->close();
    create_segment(last_lsn_ + 1, segment_first_lsn_);
  } catch (const std::exception& e) {
    poison_locked(what_of(e).data());
    throw;
  }
}

void Writer::create_segment(std::uint64_t first_lsn,
                            std::uint64_t prev_first_lsn) {
  const std::filesystem::path path = log_dir_ / segment_file_name(first_lsn);
  std::unique_ptr<WritableFile> file = fs_->open_writable(path);
  if (file->size() != 0) {
    throw CorruptionError(
        fmt::format("log segment {}: offset 0: a segment file with this name "
                    "already exists",
                    path.string()));
  }
  SegmentHeader header;
  header.store_uuid = store_uuid_;
  header.first_lsn = first_lsn;
  header.prev_first_lsn = prev_first_lsn;
  header.prev_last_lsn = first_lsn - 1;
  header.prev_last_hash = last_hash_;
  std::string framed;
  std::size_t block_offset = 0;
  frame_physical(static_cast<std::uint8_t>(RecordType::kSegmentHeader),
                 encode_segment_header(header), &block_offset, &framed);
  file->append(framed);
  file_ = std::move(file);
  segment_first_lsn_ = first_lsn;
  block_offset_ = block_offset;
  end_ = framed.size();
  start_filling();
  fill_ahead(0);
  file_->sync();
  fs_->sync_dir(log_dir_);
}

}  // namespace wfstore::log
