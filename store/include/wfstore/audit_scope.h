// AuditScope: who, why and from where, for every commit made on this thread
// while the scope is alive (docs/events.md#the-envelope). The metadata is
// stored in each commit record of the log.
//
// Thread-safety: scopes are thread-local; each thread has its own stack of
// scopes.

#pragma once

#include <string>

namespace wfstore {

// The audit fields a scope sets. Empty strings mean "unset". Each is an id or
// name string of README.md "Limits": valid UTF-8 of at most kMaxStringBytes.
struct AuditFields {
  std::string actor;
  std::string correlation_id;
  std::string causation_id;
  std::string source;
};

// RAII: while alive, commits made on the constructing thread carry `fields`.
// Scopes nest: the innermost one wins and the outer one is restored when it
// ends. REQUIRES: destroyed on the thread that created it, in reverse order of
// creation.
class AuditScope {
 public:
  // Throws InvalidArgumentError naming the field ("audit.actor: string is not
  // valid UTF-8") when a field is not valid UTF-8 or is longer than
  // kMaxStringBytes; the scope then never takes effect: the thread's previous
  // scope stays current and no commit carries the rejected fields.
  explicit AuditScope(AuditFields fields);
  ~AuditScope();
  AuditScope(const AuditScope&) = delete;
  AuditScope& operator=(const AuditScope&) = delete;

  // The fields of the innermost scope of this thread (all empty when none).
  static const AuditFields& current();

 private:
  AuditFields previous_;
};

}  // namespace wfstore
