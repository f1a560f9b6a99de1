// AuditScope: the thread-local audit fields of the current commit.

#include "wfstore/audit_scope.h"

#include <utility>

#include "wfstore/model.h"

namespace wfstore {
namespace {

thread_local AuditFields current_fields;

// `fields` after the checks the log's decoder applies to a commit's audit
// strings (valid UTF-8), plus the limit of every id and name string. Field
// names are those of the log ("audit.actor").
AuditFields validated(AuditFields fields) {
  validate_string(fields.actor, "audit.actor");
  validate_string(fields.correlation_id, "audit.correlation_id");
  validate_string(fields.causation_id, "audit.causation_id");
  validate_string(fields.source, "audit.source");
  return fields;
}

}  // namespace

// Validation runs before the exchange: a rejected scope never becomes current,
// and, its constructor having thrown, is never destroyed.
AuditScope::AuditScope(AuditFields fields)
    : previous_(std::exchange(current_fields, validated(std::move(fields)))) {}

AuditScope::~AuditScope() { current_fields = std::move(previous_); }

const AuditFields& AuditScope::current() { return current_fields; }

}  // namespace wfstore
