#include "loraft/core/hash.h"

#include <openssl/evp.h>

#include <fstream>
#include <vector>

#include "loraft/core/error.h"

namespace loraft {

struct Sha256::State {
  EVP_MD_CTX* ctx = nullptr;
  State() : ctx(EVP_MD_CTX_new()) { reset(); }
  ~State() { EVP_MD_CTX_free(ctx); }
  void reset() {
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1)
      throw std::runtime_error("OpenSSL: cannot initialise SHA-256");
  }
};

Sha256::Sha256() : state_(std::make_unique<State>()) {}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

Sha256& Sha256::update(const void* data, std::size_t size) {
  EVP_DigestUpdate(state_->ctx, data, size);
  return *this;
}

Sha256& Sha256::update_field(std::string_view s) {
  const std::uint64_t n = s.size();
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
  update(len, sizeof len);
  return update(s);
}

std::string Sha256::hex() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(state_->ctx, md, &len);
  static const char* digits = "0123456789abcdef";
  std::string out(2 * len, '0');
  for (unsigned i = 0; i < len; ++i) {
    out[2 * i] = digits[md[i] >> 4];
    out[2 * i + 1] = digits[md[i] & 15];
  }
  state_->reset();
  return out;
}

std::string sha256_hex(std::string_view data) { return Sha256().update(data).hex(); }

std::string sha256_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot open file for hashing", path.string(), "a readable file");
  Sha256 h;
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h.update(buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) throw IoError("read error while hashing", path.string());
  return h.hex();
}

std::uint64_t keyed_seed(std::uint64_t seed, std::int64_t epoch, std::int64_t index) {
  auto mix = [](std::uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  std::uint64_t h = mix(seed);
  h = mix(h ^ static_cast<std::uint64_t>(epoch));
  h = mix(h ^ static_cast<std::uint64_t>(index));
  return h >> 1;
}

}  // namespace loraft
