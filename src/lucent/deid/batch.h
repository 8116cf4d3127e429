// De-identification of a file or a folder tree: the engine behind `lucent deid`.
//
//   BatchConfig cfg{.input = "in", .output = "out"};
//   auto summary = run_batch(*deidentifier, cfg);
//
// Output: the tree mirrors the input with pseudonymised names — each folder "d<12 hex>", each
// file "f<16 hex>.dcm", keyed hashes of the input's relative path — so that no input name
// (often a patient's) reaches the output. The input is never written; an output inside the
// input (or the reverse) is refused.
// Resumable: a completion record (<output>/.lucent-deid/completed, keyed hashes of relative
// path + size + mtime, no identifiers) lists finished files; a rerun skips them, removes
// temporaries left by an interrupted run, and does the rest. Each output file is written
// atomically (temporary + fsync + rename) before it is recorded, so a crash loses nothing.
// Quarantine: a file that cannot be de-identified safely (unparseable, invalid UIDs, DICOMDIR,
// no codec, refused burned-in text) gets a reason file "<quarantine>/<hash>.reason.json" naming
// the input and the reason; the input is never copied into the output.
// Audit: JSON lines — one "file" record per file with every action (path, tag, action, code;
// never a value), "quarantine" records, and a final "summary".
// Lookup: with `lookup` set, pseudonym → original Patient ID/Name is kept in an AES-256-GCM
// encrypted file (keys.h), updated before a file is recorded complete.
// Errors: kInvalidArgument (bad paths), kIoError / kResourceExhausted when the output, audit or
// record cannot be written (the run stops; completed files stay completed).
// Thread-safety: one run_batch at a time per output folder; it uses `threads` workers.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "lucent/core/error.h"
#include "lucent/deid/deidentifier.h"

namespace lucent::deid {

struct BatchConfig {
  std::filesystem::path input;
  std::filesystem::path output;
  std::filesystem::path quarantine;  // default: "<output>.quarantine" next to the output
  std::filesystem::path audit;       // default: "<output>.audit.jsonl" next to the output
  std::optional<std::filesystem::path> lookup;  // encrypted re-identification table
  int threads = 1;
  bool progress = false;  // a line on stderr every 500 files
};

struct BatchSummary {
  std::size_t files = 0;        // found under the input
  std::size_t written = 0;      // de-identified in this run
  std::size_t skipped = 0;      // already completed by an earlier run
  std::size_t quarantined = 0;  // in this run
  std::size_t burned_in_flagged = 0;
  std::size_t pixel_cleaned = 0;
  std::map<std::string, std::size_t> actions;  // action name → count
  double seconds = 0;
  [[nodiscard]] std::string to_json() const;
};

[[nodiscard]] Result<BatchSummary> run_batch(const Deidentifier& deidentifier, const BatchConfig& config);

struct CheckSummary {
  std::size_t files = 0;
  std::size_t files_with_findings = 0;
  std::size_t findings = 0;
  std::size_t unreadable = 0;
};
// Verifies every file under `folder` (check_file); writes one line per finding to `report`.
[[nodiscard]] Result<CheckSummary> check_tree(const std::filesystem::path& folder, const Options& options,
                                              std::ostream& report);

// Decrypts a lookup table and returns its JSON text (for an authorised key holder).
[[nodiscard]] Result<std::string> read_lookup(const ProjectKey& key, const std::filesystem::path& path);

}  // namespace lucent::deid
