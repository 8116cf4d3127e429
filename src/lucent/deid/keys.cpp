#include "lucent/deid/keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "lucent/core/atomic_file.h"

namespace lucent::deid {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kLookupMagic = "LUCENT-LOOKUP-1\n";

std::string to_hex(const std::uint8_t* p, std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    s[2 * i] = kHex[p[i] >> 4];
    s[2 * i + 1] = kHex[p[i] & 15];
  }
  return s;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<ProjectKey> ProjectKey::load(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return fail(ErrorCode::kNotFound, "key file " + path.string() +
                                          " does not exist; pass --new-key to create one (keep it secret and backed up: "
                                          "without it pseudonyms and UIDs cannot be reproduced)");
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return fail(ErrorCode::kPermissionDenied, "key file " + path.string() + " has mode " + mode +
                                                  ", readable by others; expected 0600 (run: chmod 600 " +
                                                  path.string() + ")");
  }
  auto text = read_file(path);
  if (!text) return std::unexpected(text.error());
  std::string hex;
  for (char c : *text)
    if (!std::isspace(static_cast<unsigned char>(c))) hex += c;
  std::array<std::uint8_t, 32> bytes{};
  if (hex.size() != 64)
    return fail(ErrorCode::kInvalidData, "key file " + path.string() + " holds " + std::to_string(hex.size()) +
                                             " characters; expected 64 hex digits (32 bytes)");
  for (std::size_t i = 0; i < 32; ++i) {
    const int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return fail(ErrorCode::kInvalidData, "key file " + path.string() + " contains a non-hex character");
    bytes[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return ProjectKey(bytes);
}

Result<ProjectKey> ProjectKey::create(const fs::path& path) {
  std::error_code ec;
  if (fs::exists(path, ec))
    return fail(ErrorCode::kAlreadyExists, "key file " + path.string() + " already exists; refusing to overwrite a key");
  std::array<std::uint8_t, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
    return fail(ErrorCode::kInternal, "OpenSSL RAND_bytes failed to produce a key");
  const std::string text = to_hex(bytes.data(), bytes.size()) + "\n";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return fail(ErrorCode::kIoError, "cannot create key file " + path.string() + ": " + std::strerror(errno));
  const bool good = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!good) {
    fs::remove(path, ec);
    return fail(ErrorCode::kIoError, "cannot write key file " + path.string());
  }
  return ProjectKey(bytes);
}

std::array<std::uint8_t, 32> ProjectKey::hmac(std::string_view label, std::string_view message) const {
  std::string data;
  data.reserve(label.size() + 1 + message.size());
  data.append(label).push_back('\0');
  data.append(message);
  std::array<std::uint8_t, 32> out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out.data(), &len);
  return out;
}

std::string ProjectKey::hmac_hex(std::string_view label, std::string_view message, std::size_t hex_digits) const {
  const auto h = hmac(label, message);
  return to_hex(h.data(), h.size()).substr(0, std::min<std::size_t>(hex_digits, 64));
}

std::string ProjectKey::map_uid(std::string_view uid) const {
  // Trailing NUL/space padding is not part of the UID.
  while (!uid.empty() && (uid.back() == '\0' || uid.back() == ' ')) uid.remove_suffix(1);
  const auto h = hmac("uid", uid);
  unsigned __int128 v = 0;
  for (int i = 0; i < 16; ++i) v = (v << 8) | h[i];
  v &= ~(static_cast<unsigned __int128>(1) << 127);  // 127 bits: well within 2.25's UUID range
  std::string digits;
  do {
    digits.push_back(static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  } while (v != 0);
  return "2.25." + std::string(digits.rbegin(), digits.rend());
}

std::string ProjectKey::pseudonym(std::string_view patient_id) const {
  std::string s = "LUC" + hmac_hex("patient", patient_id, 16);
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

int ProjectKey::date_offset_days(std::string_view patient_id) const {
  const auto h = hmac("date-offset", patient_id);
  const std::uint32_t v = (std::uint32_t{h[0]} << 24) | (std::uint32_t{h[1]} << 16) | (std::uint32_t{h[2]} << 8) | h[3];
  return -static_cast<int>(v % 3650) - 1;
}

std::array<std::uint8_t, 32> ProjectKey::lookup_key() const { return hmac("lookup-table-aes-256-gcm", "v1"); }

Result<std::string> seal_lookup(const ProjectKey& key, std::string_view plaintext) {
  const auto k = key.lookup_key();
  unsigned char nonce[12];
  if (RAND_bytes(nonce, sizeof nonce) != 1) return fail(ErrorCode::kInternal, "OpenSSL RAND_bytes failed");
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  std::string out(kLookupMagic);
  out.append(reinterpret_cast<const char*>(nonce), sizeof nonce);
  std::string cipher(plaintext.size() + 16, '\0');
  int len = 0, total = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, k.data(), nonce) != 1 ||
      EVP_EncryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(cipher.data()), &len,
                        reinterpret_cast<const unsigned char*>(plaintext.data()), static_cast<int>(plaintext.size())) != 1)
    return fail(ErrorCode::kInternal, "AES-256-GCM encryption of the lookup table failed");
  total = len;
  if (EVP_EncryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(cipher.data()) + total, &len) != 1)
    return fail(ErrorCode::kInternal, "AES-256-GCM finalisation failed");
  total += len;
  unsigned char tag[16];
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, 16, tag) != 1)
    return fail(ErrorCode::kInternal, "AES-256-GCM tag failed");
  out.append(cipher.data(), static_cast<std::size_t>(total));
  out.append(reinterpret_cast<const char*>(tag), 16);
  return out;
}

Result<std::string> open_lookup(const ProjectKey& key, std::string_view sealed) {
  if (!sealed.starts_with(kLookupMagic) || sealed.size() < kLookupMagic.size() + 12 + 16)
    return fail(ErrorCode::kInvalidData, "not a Lucent lookup table (missing LUCENT-LOOKUP-1 header or too short)");
  sealed.remove_prefix(kLookupMagic.size());
  const auto* nonce = reinterpret_cast<const unsigned char*>(sealed.data());
  const std::string_view body = sealed.substr(12, sealed.size() - 12 - 16);
  unsigned char tag[16];
  std::memcpy(tag, sealed.data() + sealed.size() - 16, 16);
  const auto k = key.lookup_key();
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  std::string plain(body.size() + 16, '\0');
  int len = 0, total = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, k.data(), nonce) != 1 ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len,
                        reinterpret_cast<const unsigned char*>(body.data()), static_cast<int>(body.size())) != 1)
    return fail(ErrorCode::kInternal, "AES-256-GCM decryption setup failed");
  total = len;
  EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, 16, tag);
  if (EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + total, &len) != 1)
    return fail(ErrorCode::kPermissionDenied,
                "lookup table does not authenticate: wrong key, or the file was altered");
  total += len;
  plain.resize(static_cast<std::size_t>(total));
  return plain;
}

}  // namespace lucent::deid
