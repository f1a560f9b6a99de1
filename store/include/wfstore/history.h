// Reading a store's history: every event of its log, in LSN order, with its
// envelope (LSN, commit, time, workflow, audit). What `wfstore log` prints,
// the demo shows and an exporter sends.
//
// Thread-safety: each call opens the store's log itself and reads it from the
// calling thread; calls may run on any threads at once, beside a writer of the
// same store in this or another process.

#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>

#include "wfstore/event.h"
#include "wfstore/logger.h"

namespace wfstore {

// Calls `visit` with every event of the store in `dir` whose LSN is greater
// than `after_lsn`, in LSN order, until `visit` returns false or the log ends.
// The log ends where it ended when the call began: at the last whole commit
// that opening the store would keep (commits a writer appends during the walk
// are not visited; with Durability::kBuffered, commits written but not yet
// fdatasynced are). Read-only: never writes and takes no lock, so a writer
// may go on.
//
// Returns the LSN of the last event visited, or `after_lsn` when none was:
// pass it as `after_lsn` of a later call to continue where this one stopped.
//
// Damage after the last whole commit (a torn tail, which the writer's next
// open cuts off) ends the walk and is reported through `logger` at kWarning;
// damage before it is corruption.
//
// `event` is valid only during its call to `visit`. Throws
// InvalidArgumentError if `dir` is missing or not a store, CorruptionError
// (naming segment and offset) for a damaged log or an undecodable commit,
// IOError, and what `visit` throws (the walk stops there).
std::uint64_t for_each_event(
    const std::filesystem::path& dir, std::uint64_t after_lsn,
    const std::function<bool(const Event& event)>& visit,
    const Logger& logger = {});

}  // namespace wfstore
