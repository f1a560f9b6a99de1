// StoreCore: the closed, failed and read-only rules of every commit and read.

#include "wfstore_internal/store_core.h"

#include <utility>

#include <fmt/format.h>

#include "wfstore/errors.h"

#include "store/commit_pipeline.h"

namespace wfstore {

StoreCore::StoreCore(LmdbViews& views, CommitPipeline* pipeline,
                     std::string dir, const DatabaseOptions& options)
    : views_(views),
      pipeline_(pipeline),
      dir_(std::move(dir)),
      options_(options) {}

CommitResult StoreCore::commit(std::vector<Command> commands,
                               std::optional<Durability> durability,
                               std::optional<PreparedDecision> prepared) {
  if (closed_) throw IOError(fmt::format("store {} is closed", dir_));
  check_writer("a commit");
  // A commit may have to grow the views' map, which waits for every snapshot
  // of the process: one held by this thread would never end.
  if (views_.transactions_held_by_this_thread() != 0) {
    throw IOError(fmt::format(
        "store {}: commit while this thread holds a views snapshot", dir_));
  }
  return pipeline_->commit(std::move(commands), durability,
                           std::move(prepared));
}

Decision StoreCore::commit_one(Command command,
                               std::optional<Durability> durability) {
  std::vector<Command> commands;
  commands.push_back(std::move(command));
  CommitResult result = commit(std::move(commands), durability);
  return std::move(result.decisions.front());
}

LmdbViews::Snapshot StoreCore::read() const {
  if (closed_) throw IOError(fmt::format("store {} is closed", dir_));
  // A writer's store serves reads only while its pipeline is open: after a
  // failure the views may lack a group the log holds.
  if (pipeline_ != nullptr) pipeline_->check_usable();
  return views_.begin_read();
}

void StoreCore::check_writer(std::string_view operation) const {
  if (pipeline_ == nullptr) {
    throw IOError(fmt::format(
        "store {} is open read-only: {} needs the store open as its writer",
        dir_, operation));
  }
}

bool StoreCore::usable() const noexcept {
  return !closed_ && (pipeline_ == nullptr || pipeline_->usable());
}

std::uint64_t StoreCore::add_listener(CommitListener listener,
                                      std::function<void()> on_close) {
  check_writer("a commit listener");
  return pipeline_->add_listener(std::move(listener), std::move(on_close));
}

void StoreCore::remove_listener(std::uint64_t id) {
  if (pipeline_ != nullptr) pipeline_->remove_listener(id);
}

bool StoreCore::attach_queue(const Queue* queue) {
  const Queue* expected = nullptr;
  return queue_.compare_exchange_strong(expected, queue);
}

void StoreCore::detach_queue(const Queue* queue) {
  const Queue* expected = queue;
  queue_.compare_exchange_strong(expected, nullptr);
}

}  // namespace wfstore
