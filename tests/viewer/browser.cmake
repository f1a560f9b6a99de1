# The viewer's page in headless Chromium (README "The viewer"), included by
# tests/viewer/CMakeLists.txt. browser_store writes the store the test looks
# at; the test starts `wfstore serve` over it and drives Chromium through
# chromedriver. It exits 77 (skipped) only when chromium or chromedriver is not
# installed, and writes viewer.png (the workflow page) into this directory.
add_executable(viewer_browser_store ${CMAKE_CURRENT_LIST_DIR}/browser_store.cc)
target_link_libraries(viewer_browser_store
  PRIVATE wfstore::wfstore fmt::fmt nlohmann_json::nlohmann_json wfstore_options)

# Debian's interpreter: the test needs only the standard library.
find_program(WFSTORE_BROWSER_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(NOT WFSTORE_BROWSER_PYTHON)
  find_program(WFSTORE_BROWSER_PYTHON NAMES python3 REQUIRED)
endif()

add_test(NAME viewer_browser
  COMMAND ${WFSTORE_BROWSER_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/browser_test.py
    --tool $<TARGET_FILE:wfstore_tool>
    --store-gen $<TARGET_FILE:viewer_browser_store>
    --out ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(viewer_browser PROPERTIES
  LABELS browser SKIP_RETURN_CODE 77 TIMEOUT 120)
