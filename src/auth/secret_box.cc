#include "auth/secret_box.h"

#include <sodium.h>

#include <algorithm>
#include <optional>
#include <stdexcept>

#include "auth/key_file.h"
#include "util/text.h"

namespace chatd::auth {

namespace {

constexpr std::string_view kVersion = "v1.";
constexpr std::size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr int kBase64 = sodium_base64_VARIANT_URLSAFE_NO_PADDING;

static_assert(SecretBox::kKeyBytes == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);

void init_sodium() {
  static const bool initialised = sodium_init() >= 0;
  if (!initialised) throw std::runtime_error("libsodium failed to initialise");
}

Error does_not_open() {
  return make_error(Errc::internal,
                    "sealed secret does not open (altered, another key or another owner)");
}

const unsigned char* bytes_of(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// The bytes of base64 `text` in one variant; nullopt unless all of it decodes.
std::optional<std::string> from_base64_variant(std::string_view text, int variant) {
  std::string bytes(text.size(), '\0');
  std::size_t length = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(bytes.data()), bytes.size(), text.data(),
                        text.size(), nullptr, &length, nullptr, variant) != 0) {
    return std::nullopt;
  }
  bytes.resize(length);
  return bytes;
}

Result<SecretBox> from_key_bytes(std::string bytes) {
  if (bytes.size() != SecretBox::kKeyBytes) {
    sodium_memzero(bytes.data(), bytes.size());
    return make_error(Errc::invalid_input, "a secret key must be 32 bytes");
  }
  SecretBox::Key key{};
  std::copy(bytes.begin(), bytes.end(), key.begin());
  sodium_memzero(bytes.data(), bytes.size());
  SecretBox box(key);
  sodium_memzero(key.data(), key.size());
  return box;
}

}  // namespace

SecretBox::SecretBox(const Key& key) : key_(key) {
  init_sodium();
}

SecretBox::~SecretBox() {
  sodium_memzero(key_.data(), key_.size());
}

Result<SecretBox> SecretBox::from_hex(std::string_view hex) {
  hex = text::trim(hex);
  if (hex.size() != kKeyBytes * 2) {
    return make_error(Errc::invalid_input, "a secret key in hex must be 64 hex digits");
  }
  std::string bytes(kKeyBytes, '\0');
  std::size_t length = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(reinterpret_cast<unsigned char*>(bytes.data()), bytes.size(), hex.data(),
                     hex.size(), nullptr, &length, &end) != 0 ||
      end != hex.data() + hex.size()) {
    return make_error(Errc::invalid_input, "a secret key in hex must be 64 hex digits");
  }
  bytes.resize(length);
  return from_key_bytes(std::move(bytes));
}

Result<SecretBox> SecretBox::from_base64(std::string_view base64) {
  base64 = text::trim(base64);
  for (const int variant :
       {sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
        sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING}) {
    if (auto bytes = from_base64_variant(base64, variant)) return from_key_bytes(std::move(*bytes));
  }
  return make_error(Errc::invalid_input, "a secret key in base64 must encode 32 bytes");
}

std::string SecretBox::seal(std::string_view plaintext, std::string_view associated) const {
  std::string raw(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(raw.data());
  randombytes_buf(nonce, kNonceBytes);
  unsigned long long sealed_length = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      nonce + kNonceBytes, &sealed_length, bytes_of(plaintext), plaintext.size(),
      bytes_of(associated), associated.size(), nullptr, nonce, key_.data());
  std::string out(kVersion);
  const std::size_t start = out.size();
  out.resize(start + sodium_base64_encoded_len(raw.size(), kBase64));
  sodium_bin2base64(out.data() + start, out.size() - start, bytes_of(raw), raw.size(), kBase64);
  out.pop_back();  // the terminating NUL sodium writes
  return out;
}

Result<std::string> SecretBox::open(std::string_view sealed, std::string_view associated) const {
  if (sealed.substr(0, kVersion.size()) != kVersion) return does_not_open();
  auto raw = from_base64_variant(sealed.substr(kVersion.size()), kBase64);
  if (!raw || raw->size() < kNonceBytes + kTagBytes) return does_not_open();
  const auto* nonce = bytes_of(*raw);
  std::string plaintext(raw->size() - kNonceBytes - kTagBytes, '\0');
  unsigned long long length = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<unsigned char*>(plaintext.data()),
                                                 &length, nullptr, nonce + kNonceBytes,
                                                 raw->size() - kNonceBytes, bytes_of(associated),
                                                 associated.size(), nonce, key_.data()) != 0) {
    return does_not_open();
  }
  plaintext.resize(static_cast<std::size_t>(length));
  return plaintext;
}

SecretBox load_or_create_secret_box(const std::filesystem::path& data_dir) {
  const auto path = data_dir / "secret_key";
  auto hex = load_or_create_key_file(path);
  auto box = SecretBox::from_hex(hex);
  sodium_memzero(hex.data(), hex.size());
  if (!box) throw std::runtime_error(path.string() + ": " + box.error().message);
  return std::move(box).value();
}

}  // namespace chatd::auth
