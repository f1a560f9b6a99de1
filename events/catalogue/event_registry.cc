// The registry of upcasters and test-only event types, and the schema version
// of every type.

#include "events/catalogue/event_registry.h"

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "wfstore/errors.h"

#include "wfstore_internal/event_codec.h"

namespace wfstore {
namespace catalogue {
namespace {

class Registry {
 public:
  static Registry& instance() {
    static Registry registry;
    return registry;
  }

  void add_upcaster(EventType type, std::uint16_t from_version,
                    Upcaster upcaster) {
    const std::uint16_t current = current_schema_version(type);
    if (current == 0) {
      throw InvalidArgumentError(fmt::format(
          "register_upcaster: unknown event type {}", static_cast<int>(type)));
    }
    if (from_version == 0 || from_version >= current) {
      throw InvalidArgumentError(fmt::format(
          "register_upcaster: from_version {} of {} must lie in 1..{}",
          from_version, describe_event_type(type), current - 1));
    }
    std::scoped_lock lock(mu_);
    if (!upcasters_.emplace(std::pair(type, from_version), std::move(upcaster))
             .second) {
      throw InvalidArgumentError(fmt::format(
          "register_upcaster: {} already has an upcaster from version {}",
          describe_event_type(type), from_version));
    }
  }

  std::optional<Upcaster> upcaster(EventType type, std::uint16_t from) const {
    std::scoped_lock lock(mu_);
    const auto it = upcasters_.find(std::pair(type, from));
    if (it == upcasters_.end()) return std::nullopt;
    return it->second;
  }

  void add_test_type(EventType type, std::uint16_t version,
                     PayloadDecoder decode) {
    if (static_cast<std::uint16_t>(type) < kFirstTestEventType) {
      throw InvalidArgumentError(fmt::format(
          "register_event_type_for_testing: type {} is outside the test range",
          static_cast<int>(type)));
    }
    if (version == 0) {
      throw InvalidArgumentError(
          "register_event_type_for_testing: version must be at least 1");
    }
    std::scoped_lock lock(mu_);
    if (!test_types_.emplace(type, TestType{version, std::move(decode)})
             .second) {
      throw InvalidArgumentError(fmt::format(
          "register_event_type_for_testing: type {} is already registered",
          static_cast<int>(type)));
    }
  }

  std::optional<TestType> test_type(EventType type) const {
    std::scoped_lock lock(mu_);
    const auto it = test_types_.find(type);
    if (it == test_types_.end()) return std::nullopt;
    return it->second;
  }

  void reset() {
    std::scoped_lock lock(mu_);
    upcasters_.clear();
    test_types_.clear();
  }

 private:
  mutable std::mutex mu_;
  std::map<std::pair<EventType, std::uint16_t>, Upcaster> upcasters_;
  std::map<EventType, TestType> test_types_;
};

}  // namespace

std::string describe_event_type(EventType type) {
  const std::string_view name = event_type_name(type);
  if (name == "Unknown") {
    return fmt::format("type {}", static_cast<int>(type));
  }
  return std::string(name);
}

std::optional<Upcaster> registered_upcaster(EventType type,
                                            std::uint16_t from) {
  return Registry::instance().upcaster(type, from);
}

std::optional<TestType> registered_test_type(EventType type) {
  return Registry::instance().test_type(type);
}

}  // namespace catalogue

using catalogue::builtin_schema_version;
using catalogue::Registry;
using catalogue::TestType;

std::uint16_t current_schema_version(EventType type) {
  const std::uint16_t builtin = builtin_schema_version(type);
  if (builtin != 0) return builtin;
  const std::optional<TestType> test = Registry::instance().test_type(type);
  return test ? test->version : 0;
}

void register_upcaster(EventType type, std::uint16_t from_version,
                       Upcaster to_next_version_payload) {
  Registry::instance().add_upcaster(type, from_version,
                                    std::move(to_next_version_payload));
}

void register_event_type_for_testing(EventType type,
                                     std::uint16_t current_version,
                                     PayloadDecoder decode) {
  Registry::instance().add_test_type(type, current_version, std::move(decode));
}

void reset_event_registry_for_testing() { Registry::instance().reset(); }

}  // namespace wfstore
