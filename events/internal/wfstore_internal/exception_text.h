// The message of an exception that may come from code outside wfstore (a
// handler, listener, clock, logger or file system the caller gave).

#pragma once

#include <exception>
#include <string_view>

namespace wfstore {

// `e.what()`, or "(no message)" when it is null (a user's exception may
// return null; fmt and std::string throw on a null string). The view lives
// as long as `e`.
inline std::string_view what_of(const std::exception& e) noexcept {
  const char* what = e.what();
  return what != nullptr ? std::string_view(what) : "(no message)";
}

}  // namespace wfstore
