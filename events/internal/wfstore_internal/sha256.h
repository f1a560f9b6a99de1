// Incremental SHA-256 over OpenSSL, for the log's commit hash chain, the view
// checksum and id hashes; events/io/sha256.cc is the only code that calls
// OpenSSL.

#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

struct SHA256state_st;

namespace wfstore {

using Sha256Digest = std::array<std::uint8_t, 32>;

// One running SHA-256 computation; reusable after finish().
//
// Not thread-safe.
class Sha256 {
 public:
  // Throws IOError if OpenSSL fails to start a digest.
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, std::size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  // Returns the digest of everything passed since construction or the last
  // finish(), and starts over.
  Sha256Digest finish();

 private:
  SHA256state_st* ctx_;  // owned
};

// SHA-256 of `data`. Thread-safe. Throws IOError if OpenSSL fails.
Sha256Digest sha256(std::string_view data);

}  // namespace wfstore
