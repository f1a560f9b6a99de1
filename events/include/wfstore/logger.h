// The logger callback through which wfstore reports warnings (a torn log tail
// dropped at open, a rebuild) without deciding where they go.

#pragma once

#include <functional>
#include <string_view>

namespace wfstore {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Receives one message (lowercase, no trailing period). Called on the thread
// that did the work; it must not throw and must not call back into wfstore.
using Logger = std::function<void(LogLevel level, std::string_view message)>;

// "debug", "info", "warning" or "error".
constexpr std::string_view log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "unknown";
}

}  // namespace wfstore
