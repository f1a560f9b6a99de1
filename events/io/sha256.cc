// SHA-256 through OpenSSL's one-algorithm interface (SHA256_Init, _Update,
// _Final). OpenSSL 3 marks it deprecated in favour of EVP, but EVP's dispatch
// costs 40 ns per digest (92 against 53 ns for a 16-byte id on this project's
// machine), and wfstore digests short strings on its hottest paths: every
// dedup check hashes its message id, every view write steps the view
// checksum. docs/decisions.md records the choice; the interface is only
// deprecated, so it stays while OpenSSL 3 is the one Debian ships.

#define OPENSSL_SUPPRESS_DEPRECATED

#include "wfstore_internal/sha256.h"

#include <openssl/sha.h>

#include "wfstore/errors.h"

namespace wfstore {
namespace {

void init(SHA256state_st* ctx) {
  if (SHA256_Init(ctx) != 1) throw IOError("openssl: SHA256_Init failed");
}

void add(SHA256state_st* ctx, const void* data, std::size_t size) {
  if (SHA256_Update(ctx, data, size) != 1)
    throw IOError("openssl: SHA256_Update failed");
}

Sha256Digest digest_of(SHA256state_st* ctx) {
  Sha256Digest digest{};
  if (SHA256_Final(digest.data(), ctx) != 1) {
    throw IOError("openssl: SHA256_Final failed");
  }
  return digest;
}

}  // namespace

Sha256::Sha256() : ctx_(new SHA256state_st) {
  try {
    init(ctx_);
  } catch (const IOError&) {
    delete ctx_;
    throw;
  }
}

Sha256::~Sha256() { delete ctx_; }

void Sha256::update(const void* data, std::size_t size) {
  add(ctx_, data, size);
}

Sha256Digest Sha256::finish() {
  const Sha256Digest digest = digest_of(ctx_);
  init(ctx_);
  return digest;
}

// A context on the stack: no allocation, no state kept between calls.
Sha256Digest sha256(std::string_view data) {
  SHA256state_st ctx;
  init(&ctx);
  add(&ctx, data.data(), data.size());
  return digest_of(&ctx);
}

}  // namespace wfstore
