// FUZZ_CHECK: a property a fuzz target asserts about the code under test. A
// failure prints the property and aborts, which libFuzzer (and the corpus
// replay) reports as a crash with the input that caused it.

#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(condition, what)                                         \
  do {                                                                      \
    if (!(condition)) {                                                     \
      std::fprintf(stderr, "%s:%d: property violated: %s (%s)\n", __FILE__, \
                   __LINE__, what, #condition);                             \
      std::abort();                                                         \
    }                                                                       \
  } while (false)

namespace wfstore {

// The property checks of a target that reads its input as one string of
// bytes; string_entry.cc is its LLVMFuzzerTestOneInput.
void fuzz_string(std::string_view input);

}  // namespace wfstore
