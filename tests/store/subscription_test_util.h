// Shared pieces of the subscription tests: a store fixture, a recording
// subscriber, a recording error handler and the running workflow they commit.

#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "wfstore/database.h"
#include "wfstore/subscriptions.h"

#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"

namespace wfstore::testutil {

// A running workflow `id` of application "app" without stages.
inline Workflow running_workflow(const std::string& id) {
  return bare_workflow(id, "app", WorkflowStatus::kRunning, 1);
}

// What a subscriber saw (LSN, type and calling thread of each event), safe to
// read from the test's thread.
class Seen {
 public:
  EventHandler handler() {
    return [this](const Event& event) {
      const std::scoped_lock lock(mu_);
      lsns_.push_back(event.lsn);
      types_.push_back(event.type());
      threads_.push_back(std::this_thread::get_id());
    };
  }
  std::vector<std::uint64_t> lsns() const {
    const std::scoped_lock lock(mu_);
    return lsns_;
  }
  std::vector<EventType> types() const {
    const std::scoped_lock lock(mu_);
    return types_;
  }
  std::vector<std::thread::id> threads() const {
    const std::scoped_lock lock(mu_);
    return threads_;
  }
  std::size_t size() const {
    const std::scoped_lock lock(mu_);
    return lsns_.size();
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::uint64_t> lsns_;
  std::vector<EventType> types_;
  std::vector<std::thread::id> threads_;
};

// An EventBusOptions::error_handler recording "<id>@<lsn>: <what>" for each
// std::runtime_error a handler threw, in the order reported.
class ReportedErrors {
 public:
  SubscriberErrorHandler handler() {
    return [this](const std::string& id, const Event& event,
                  std::exception_ptr error) {
      try {
        std::rethrow_exception(error);
      } catch (const std::runtime_error& e) {
        const std::scoped_lock lock(mu_);
        reported_.push_back(fmt::format("{}@{}: {}", id, event.lsn, e.what()));
      }
    };
  }
  std::vector<std::string> reported() const {
    const std::scoped_lock lock(mu_);
    return reported_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> reported_;
};

// A writer open of a buffered store in a fresh directory.
class BufferedStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = Database::open(dir_.path(), quiet_options(Durability::kBuffered));
  }
  WorkflowStore& store() { return db_->workflow_store(); }

  TempDir dir_;
  std::unique_ptr<Database> db_;
};

}  // namespace wfstore::testutil
