// Tests of the SHA-256 wrapper: the FIPS 180-2 test vectors, incremental
// updates and reuse after finish().

#include "wfstore_internal/sha256.h"

#include <string>

#include <gtest/gtest.h>

#include "wfstore_internal/log_format.h"

namespace wfstore {
namespace {

std::string hex(const Sha256Digest& digest) { return log::to_hex(digest); }

TEST(Sha256Test, KnownDigests) {
  EXPECT_EQ(hex(sha256("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex(sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(
      hex(sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  std::string million(1'000'000, 'a');
  EXPECT_EQ(hex(sha256(million)),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Test, IncrementalUpdatesEqualOneShot) {
  Sha256 hasher;
  hasher.update("ab");
  hasher.update(std::string_view());
  hasher.update("c", 1);
  EXPECT_EQ(hasher.finish(), sha256("abc"));
}

TEST(Sha256Test, FinishStartsOver) {
  Sha256 hasher;
  hasher.update("something else");
  (void)hasher.finish();
  EXPECT_EQ(hasher.finish(), sha256(""));
  hasher.update("abc");
  EXPECT_EQ(hasher.finish(), sha256("abc"));
}

}  // namespace
}  // namespace wfstore
