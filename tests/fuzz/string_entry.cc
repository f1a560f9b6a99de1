// LLVMFuzzerTestOneInput of the fuzz targets that read their input as one
// string of bytes: each defines wfstore::fuzz_string() (fuzz_check.h).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  wfstore::fuzz_string(
      std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
