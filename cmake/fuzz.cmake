# WFSTORE_FUZZ: libFuzzer coverage instrumentation for every wfstore library and
# test target (-fsanitize=fuzzer-no-link); the fuzz targets in tests/fuzz/ then
# link libFuzzer's runtime (-fsanitize=fuzzer). Clang only: libFuzzer ships
# with clang (Debian: clang-14 and libclang-rt-14-dev). Combine it with
# WFSTORE_SANITIZE=address,undefined, as `tools/run fuzz` does.
if(WFSTORE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR
      "WFSTORE_FUZZ needs clang (libFuzzer); configure with "
      "-DCMAKE_CXX_COMPILER=clang++-14, as tools/run fuzz does")
  endif()
  target_compile_options(wfstore_options INTERFACE -fsanitize=fuzzer-no-link)
endif()
