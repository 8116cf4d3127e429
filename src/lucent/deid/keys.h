// The project key and everything derived from it: UIDs, pseudonyms, date offsets and the
// encrypted re-identification lookup table.
//
// A key file holds 32 random bytes as 64 hex digits (one line). It must not be readable by
// group or others (mode 0600 or stricter); load_key refuses it otherwise. The same key gives
// the same UIDs, pseudonyms and date offsets in every run, so that files de-identified in
// separate runs still link up; a different key gives unrelated ones.
//
//   auto key = ProjectKey::load("project.key");          // or ProjectKey::create(path)
//   std::string uid = key->map_uid("1.2.3.4");            // "2.25.<decimal of 128-bit HMAC>"
//   std::string pid = key->pseudonym("PAT-001");          // "LUC" + 16 upper-case hex digits
//   int days = key->date_offset_days("PAT-001");          // in [-3650, -1]
//
// All derivations are HMAC-SHA256 with the key, each with its own label. Thread-safe (const).
// Errors: kNotFound (no key file; create one with --new-key), kPermissionDenied (mode too open),
// kInvalidData (not 64 hex digits), kAlreadyExists (create over an existing file).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "lucent/core/error.h"

namespace lucent::deid {

class ProjectKey {
 public:
  [[nodiscard]] static Result<ProjectKey> load(const std::filesystem::path& path);
  // Writes a new random key with mode 0600; refuses to overwrite.
  [[nodiscard]] static Result<ProjectKey> create(const std::filesystem::path& path);
  [[nodiscard]] static ProjectKey from_bytes(const std::array<std::uint8_t, 32>& bytes) { return ProjectKey(bytes); }

  [[nodiscard]] std::array<std::uint8_t, 32> hmac(std::string_view label, std::string_view message) const;
  [[nodiscard]] std::string hmac_hex(std::string_view label, std::string_view message, std::size_t hex_digits) const;
  // A UID under the 2.25 root: at most 44 characters, deterministic per (key, uid).
  [[nodiscard]] std::string map_uid(std::string_view uid) const;
  [[nodiscard]] std::string pseudonym(std::string_view patient_id) const;
  [[nodiscard]] int date_offset_days(std::string_view patient_id) const;
  // The 32-byte key that encrypts the lookup table (derived, never the project key itself).
  [[nodiscard]] std::array<std::uint8_t, 32> lookup_key() const;

 private:
  explicit ProjectKey(const std::array<std::uint8_t, 32>& bytes) : key_(bytes) {}
  std::array<std::uint8_t, 32> key_;
};

// The re-identification table: pseudonym → original identifiers (as a JSON object string).
// Stored as "LUCENT-LOOKUP-1\n" + 12-byte nonce + AES-256-GCM ciphertext + 16-byte tag, so only
// a holder of the key can read it, and any change to the file is detected.
[[nodiscard]] Result<std::string> seal_lookup(const ProjectKey& key, std::string_view plaintext);
[[nodiscard]] Result<std::string> open_lookup(const ProjectKey& key, std::string_view sealed);

}  // namespace lucent::deid
