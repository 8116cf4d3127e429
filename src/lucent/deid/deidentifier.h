// De-identification of one DICOM file under the PS3.15 Basic Application Level Confidentiality
// Profile and its options (profile.h), with keyed UIDs, pseudonyms and date shifts (keys.h),
// pixel rules (pixel_rules.h), and a record of every action taken (never a removed value).
//
//   auto d = Deidentifier::create(options, key, rules);       // rules optional
//   auto report = (*d)->deidentify_file("in.dcm", "out/x.dcm");
//   if (!report) { quarantine or stop, depending on report.error().code() }
//
// What it guarantees for a written file: every attribute is handled by Table E.1-1 or removed
// (unless on the explicit keep list), at any sequence depth; private attributes are removed
// unless retained as safe private; UIDs are replaced consistently (same key + same UID → same
// UID, references included); Patient Identity Removed (0012,0062) = YES, De-identification
// Method (0012,0063) and Code Sequence (0012,0064) and Longitudinal Temporal Information
// Modified (0028,0303) are set; the File Meta header is rebuilt (Media Storage SOP Instance UID
// = the new SOP Instance UID). Pixel data are untouched (bit-identical, same transfer syntax)
// unless a pixel rule applies; then compressed data are decompressed and written as Explicit VR
// Little Endian. The input file is only read.
//
// Errors (the file is not written): kInvalidData (unparseable/truncated DICOM, missing or invalid
// UIDs), kUnsupported (DICOMDIR, compressed data that a pixel rule needs but no codec decodes,
// a pixel layout the blanker cannot handle), kPermissionDenied (burned-in annotation refused by
// refuse-burned-in) — these mean "quarantine the file"; kIoError / kResourceExhausted come from
// writing and mean "stop, the output is not writable".
// Thread-safety: deidentify_file and check_file may be called concurrently from many threads.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lucent/core/error.h"
#include "lucent/deid/keys.h"
#include "lucent/deid/pixel_rules.h"
#include "lucent/deid/profile.h"

namespace lucent::deid {

struct ActionRecord {
  std::string path;    // "(0040,A730)[0]/(0040,A160)": sequence path and tag
  std::string action;  // action_name()
  std::string code;    // the profile code that led to it
};

struct FileReport {
  std::string sop_class_uid;
  std::string new_sop_instance_uid;
  std::string patient_pseudonym;
  std::string original_patient_id;    // for the encrypted lookup table only; never audited
  std::string original_patient_name;  // idem
  bool burned_in = false;             // Burned In Annotation YES, a screen-capture class or ConversionType
  std::string burned_in_reason;
  std::string pixel_rule;             // the rule applied ("" = none)
  bool decompressed = false;
  std::string transfer_syntax;        // of the written file
  std::vector<ActionRecord> actions;
  std::vector<std::string> warnings;
};

// Writes `target` through a temporary sibling (see lucent::write_atomically); replaceable so
// that tests can simulate a full disk or a failing file system.
using AtomicWriter =
    std::function<Status(const std::filesystem::path& target, const std::function<Status(const std::filesystem::path&)>&)>;

class Deidentifier {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Deidentifier>> create(Options options, ProjectKey key,
                                                                    std::optional<PixelRules> rules = std::nullopt);
  Deidentifier(const Deidentifier&) = delete;
  Deidentifier& operator=(const Deidentifier&) = delete;
  ~Deidentifier();

  // `writer` (optional) replaces the atomic writer for this call; the batch runner uses it to
  // write temporaries that it commits in groups (one file-system sync per group).
  [[nodiscard]] Result<FileReport> deidentify_file(const std::filesystem::path& input,
                                                   const std::filesystem::path& output,
                                                   const AtomicWriter* writer = nullptr) const;
  void set_writer(AtomicWriter writer) { writer_ = std::move(writer); }
  [[nodiscard]] const Options& options() const { return options_; }
  [[nodiscard]] const ProjectKey& key() const { return key_; }

 private:
  Deidentifier(Options options, ProjectKey key, std::optional<PixelRules> rules);
  Options options_;
  ProjectKey key_;
  std::optional<PixelRules> rules_;
  AtomicWriter writer_;
};

// One attribute of an already de-identified file that the profile would have changed.
struct Finding {
  std::string path;     // "(0010,0010)" or nested path
  std::string name;     // attribute name when known
  std::string problem;  // "present, profile removes it (X)", "UID not replaced", ...
};

// The verifier behind `lucent deid --check`: lists what the profile (with `options`) would still
// change in `input`. Empty = clean. Errors: kInvalidData when the file is not DICOM.
[[nodiscard]] Result<std::vector<Finding>> check_file(const std::filesystem::path& input, const Options& options);

}  // namespace lucent::deid
