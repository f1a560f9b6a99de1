// AuditScope: the thread-local audit fields of the current commit.

#include "wfstore/audit_scope.h"

#include <utility>

namespace wfstore {
namespace {

thread_local AuditFields current_fields;

}  // namespace

AuditScope::AuditScope(AuditFields fields)
    : previous_(std::exchange(current_fields, std::move(fields))) {}

AuditScope::~AuditScope() { current_fields = std::move(previous_); }

const AuditFields& AuditScope::current() { return current_fields; }

}  // namespace wfstore
