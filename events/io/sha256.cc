// SHA-256 through EVP with the digest fetched once per process.

#include "wfstore_internal/sha256.h"

#include <openssl/evp.h>

#include "wfstore/errors.h"

namespace wfstore {
namespace {

// Fetched once: an EVP_MD from EVP_sha256() would be looked up again at every
// init.
const EVP_MD* sha256_md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (md == nullptr) throw IOError("openssl: SHA256 is not available");
  return md;
}

void init(EVP_MD_CTX* ctx) {
  if (EVP_DigestInit_ex(ctx, sha256_md(), nullptr) != 1) {
    throw IOError("openssl: EVP_DigestInit_ex failed");
  }
}

}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr) throw IOError("openssl: EVP_MD_CTX_new failed");
  try {
    init(ctx_);
  } catch (const IOError&) {
    EVP_MD_CTX_free(ctx_);
    throw;
  }
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

void Sha256::update(const void* data, std::size_t size) {
  if (EVP_DigestUpdate(ctx_, data, size) != 1)
    throw IOError("openssl: EVP_DigestUpdate failed");
}

Sha256Digest Sha256::finish() {
  Sha256Digest digest{};
  unsigned size = 0;
  if (EVP_DigestFinal_ex(ctx_, digest.data(), &size) != 1 ||
      size != digest.size()) {
    throw IOError("openssl: EVP_DigestFinal_ex failed");
  }
  init(ctx_);
  return digest;
}

Sha256Digest sha256(std::string_view data) {
  thread_local Sha256 hasher;
  hasher.update(data);
  return hasher.finish();
}

}  // namespace wfstore
