// Exception types thrown by the public wfstore API.
//
// Every class maps to one exception of the Python reference (the error table of
// docs/semantics.md §3 and README.md "Errors"), with the same name where one
// exists; every one derives from wfstore::Error and carries a stable ErrorCode
// for bindings, tools and logs.

#pragma once

#include <stdexcept>
#include <string>

namespace wfstore {

// Stable numeric identity of an error. Never renumber.
enum class ErrorCode : int {
  kWorkflowNotFound = 1,
  kStageNotFound = 2,
  kConcurrency = 3,
  kDuplicate = 4,
  kInvalidArgument = 5,
  kCorruption = 6,
  kIO = 7,
  kStoreLocked = 8,
  kSubscriptionNotFound = 9,
  kSubscriberFailed = 10,
  kKafkaTopicNotFound = 11,
};

// Base of every exception thrown by wfstore.
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message)
      : std::runtime_error(message), code_(code) {}

  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

// Base of the "missing entity" errors.
class NotFoundError : public Error {
 public:
  using Error::Error;
};

// retrieve*() of a missing workflow id. Message: "Execution not found: {id}".
class WorkflowNotFoundError : public NotFoundError {
 public:
  explicit WorkflowNotFoundError(const std::string& workflow_id);
  const std::string& workflow_id() const noexcept { return workflow_id_; }

 private:
  std::string workflow_id_;
};

// retrieve_stage() of a missing stage id (the reference's ValueError). Message:
// "Stage {id} not found".
class StageNotFoundError : public NotFoundError {
 public:
  explicit StageNotFoundError(const std::string& stage_id);
};

// An optimistic-lock failure: version or phase mismatch, task conflict, or a
// rival commit won. Messages keep the reference's text ("Optimistic lock failed
// for stage ...").
class ConcurrencyError : public Error {
 public:
  explicit ConcurrencyError(const std::string& message)
      : Error(ErrorCode::kConcurrency, message) {}
};

// store() of an existing workflow id; a duplicate stage id or (execution,
// ref_id).
class DuplicateError : public Error {
 public:
  explicit DuplicateError(const std::string& message)
      : Error(ErrorCode::kDuplicate, message) {}
};

// Bad input: a limit exceeded, an unknown name, a detached stage. The message
// names the field.
class InvalidArgumentError : public Error {
 public:
  explicit InvalidArgumentError(const std::string& message)
      : Error(ErrorCode::kInvalidArgument, message) {}
};

// Damaged files or encodings. The message names the file and offset where
// known.
class CorruptionError : public Error {
 public:
  explicit CorruptionError(const std::string& message)
      : Error(ErrorCode::kCorruption, message) {}
};

// Failed I/O, or a writer or views poisoned by an earlier failure. Names the
// file.
class IOError : public Error {
 public:
  explicit IOError(const std::string& message)
      : Error(ErrorCode::kIO, message) {}
};

// Another writer (in this process or another) holds the store's LOCK. Names the
// directory.
class StoreLockedError : public Error {
 public:
  explicit StoreLockedError(const std::string& message)
      : Error(ErrorCode::kStoreLocked, message) {}
};

}  // namespace wfstore
