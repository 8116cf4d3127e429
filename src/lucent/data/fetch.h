// Getting the project's public datasets from their official sources, and checking local copies.
//
// MedMNIST is downloaded automatically from its official Zenodo record (10519652, MedMNIST v3 =
// v2 files plus the 64/128/224 px sizes) and checked against the MD5 the release publishes. The
// other datasets (BUSI, DRIVE, ISBI 2012, the mricron brain MR, the DICOM collection) come from
// web pages or archives that cannot be fetched and checksummed automatically; for them the
// registry holds the official source and instructions, and `verify_folder` checks a copy file by
// file against a committed SHA-256 list.
//
//   auto tables = find_dataset_tables();                         // configs/datasets
//   auto catalog = MedmnistCatalog::load(*tables / "medmnist.json");
//   auto got = fetch_medmnist(*catalog, "breastmnist", 28, "data/medmnist", {});
//   // got->outcome == FetchOutcome::kDownloaded, got->path == "data/medmnist/breastmnist.npz"
//
//   auto list = load_sha256_list(*tables / "drive.sha256");
//   auto report = verify_folder(*list, "/data/drive");           // report->passed()
//
// The committed tables are facts, not code: configs/datasets/medmnist.json (name → task,
// channels, labels, MD5 per size) and configs/datasets/<name>.sha256 (sha256sum format).
//
// Guarantees: a download goes to a hidden temporary sibling in the destination folder, its MD5
// is checked, and only then is it fsynced and renamed into place; every failure removes the
// temporary, so the destination never holds a file that looks complete but is not. An existing
// file is never modified unless `force` is set and its checksum is wrong. Inputs of
// `verify_folder` are only read.
//
// Errors: kInvalidArgument (unknown dataset or MedMNIST set — the message lists the names;
// a size the set does not come in; an unsupported URL scheme), kNotFound (no tables; HTTP 404 or
// a missing file:// source; verify folder missing), kInvalidData (checksum mismatch after
// download; malformed table or list; verify found mismatched files), kAlreadyExists (a file with
// the wrong checksum is in the way and `force` is not set), kTimeout (connect or low-speed
// limit), kIoError (network, HTTP and file-system failures).
//
// Thread-safety: functions are re-entrant; libcurl's global initialisation happens once, on the
// first download, under std::call_once. Catalogs and reports are values.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lucent/core/error.h"

namespace lucent::data {

// Official MedMNIST v3 Zenodo record; files are "<base><file>?download=1".
inline constexpr std::string_view kMedmnistBaseUrl = "https://zenodo.org/records/10519652/files/";
// Replaces kMedmnistBaseUrl when set (mirrors, offline tests with file:// URLs).
inline constexpr std::string_view kBaseUrlEnv = "LUCENT_FETCH_BASE_URL";
// Overrides where the committed tables are looked for.
inline constexpr std::string_view kTablesEnv = "LUCENT_DATASET_TABLES";

// ---------------------------------------------------------------------------------------------
// Tables

// The folder holding medmnist.json and the <name>.sha256 lists. Looked for, in order:
// `explicit_dir` (when not empty; it must exist), $LUCENT_DATASET_TABLES, then relative to the
// running binary (<bin>/../configs/datasets, <bin>/../share/lucent/datasets,
// <bin>/configs/datasets), then ./configs/datasets. kNotFound names every place tried.
[[nodiscard]] Result<std::filesystem::path> find_dataset_tables(const std::filesystem::path& explicit_dir = {});

// ---------------------------------------------------------------------------------------------
// MedMNIST

struct MedmnistEntry {
  std::string name;                          // "breastmnist"
  int spatial_dims = 2;                      // 2 or 3
  std::string task;                          // "binary-class", "multi-label, binary-class", ...
  int n_channels = 1;
  std::map<int, std::string> md5_by_size_px; // 28 → md5 of "<name>.npz", 64 → "<name>_64.npz", ...
  std::map<int, std::string> labels;         // class index → meaning
  std::string license;                       // may be empty
};

// The MedMNIST release table (configs/datasets/medmnist.json), in file order.
class MedmnistCatalog {
 public:
  // kNotFound / kIoError reading; kInvalidData naming the entry and key when malformed.
  [[nodiscard]] static Result<MedmnistCatalog> load(const std::filesystem::path& json_path);
  [[nodiscard]] static Result<MedmnistCatalog> parse(std::string_view json_text, std::string_view source_name);

  [[nodiscard]] const std::vector<MedmnistEntry>& entries() const { return entries_; }
  // kInvalidArgument listing every name when `name` is not in the table.
  [[nodiscard]] Result<const MedmnistEntry*> find(std::string_view name) const;
  [[nodiscard]] bool contains(std::string_view name) const;
  // "pathmnist, chestmnist, ..." in table order.
  [[nodiscard]] std::string names() const;

 private:
  std::vector<MedmnistEntry> entries_;
};

// "breastmnist.npz" for 28 px, "breastmnist_64.npz" for the other sizes.
[[nodiscard]] std::string medmnist_file_name(std::string_view name, int size_px);
// "<base>[/]<file>?download=1" (the official Zenodo pattern; file:// servers ignore the query).
[[nodiscard]] std::string medmnist_url(std::string_view base_url, std::string_view name, int size_px);

struct DownloadOptions {
  long connect_timeout_s = 30;
  // The transfer is abandoned when it runs slower than low_speed_limit_bytes_per_s for
  // low_speed_time_s seconds (a stalled server), rather than after a fixed total time, so
  // multi-gigabyte files on slow links still complete.
  long low_speed_limit_bytes_per_s = 1024;
  long low_speed_time_s = 60;
  // Called from the downloading thread with bytes received and expected (0 when unknown).
  std::function<void(std::uint64_t received, std::uint64_t expected)> on_progress;
};

struct FetchOptions {
  std::string base_url{kMedmnistBaseUrl};
  // Replace an existing file whose checksum is wrong (a correct one is always kept).
  bool force = false;
  DownloadOptions download;
};

enum class FetchOutcome { kDownloaded, kReplaced, kAlreadyPresent };

struct FetchResult {
  FetchOutcome outcome = FetchOutcome::kDownloaded;
  std::filesystem::path path;   // the final file
  std::string url;              // what was (or would have been) downloaded
  std::string md5;              // verified MD5 of `path`
  std::uintmax_t bytes = 0;
};

// Downloads one MedMNIST file into `dest_dir` (created when missing) and checks its MD5 against
// the catalog. Size must be one the set comes in: 28/64/128/224 for 2-D sets, 28/64 for 3-D.
[[nodiscard]] Result<FetchResult> fetch_medmnist(const MedmnistCatalog& catalog, std::string_view name,
                                                 int size_px, const std::filesystem::path& dest_dir,
                                                 const FetchOptions& options);

// Downloads `url` (http, https or file) into `out`, overwriting it. Fails on HTTP status >= 400,
// on the timeouts above and on write errors; on failure `out` is removed. Redirects are followed
// over http(s) only.
[[nodiscard]] Status download_to_file(const std::string& url, const std::filesystem::path& out,
                                      const DownloadOptions& options);

// ---------------------------------------------------------------------------------------------
// Checksum lists and verification

struct ChecksumEntry {
  std::string path;    // relative, '/'-separated, no "./" prefix
  std::string sha256;  // lower-case hex
};

// sha256sum format: "<64 hex><space><space or *><path>" per line; blank lines ignored. Absolute
// paths, ".." components and duplicates are kInvalidData naming the line.
[[nodiscard]] Result<std::vector<ChecksumEntry>> parse_sha256_list(std::string_view text, std::string_view source_name);
[[nodiscard]] Result<std::vector<ChecksumEntry>> load_sha256_list(const std::filesystem::path& path);

struct VerifyMismatch {
  std::string path;
  std::string expected;  // hex digest, algorithm as in VerifyReport::algorithm
  std::string found;
};

struct VerifyReport {
  std::string algorithm = "SHA-256";      // or "MD5" (MedMNIST)
  std::size_t listed = 0;                 // entries in the list (files checked for MedMNIST)
  std::size_t ok = 0;                     // present with the listed hash
  std::vector<VerifyMismatch> mismatched; // present, different content (error)
  std::vector<std::string> missing;       // listed, absent (error)
  std::vector<std::string> unreadable;    // listed, present, could not be read: "path: reason" (error)
  std::vector<std::string> unexpected;    // present, not listed (warning only)

  [[nodiscard]] bool passed() const { return mismatched.empty() && missing.empty() && unreadable.empty(); }
  // ok() when passed; otherwise kInvalidData (anything mismatched or unreadable) or kNotFound
  // (only missing files), with the counts, naming `dataset` and `dir`.
  [[nodiscard]] Status status(std::string_view dataset, const std::filesystem::path& dir) const;
};

// Hashes every listed file under `dir` and lists files that are not in `list`. The bookkeeping
// files SHA256SUMS and SOURCES.tsv at the top of `dir` are not counted as unexpected.
// kNotFound when `dir` is not a folder; per-file problems go into the report, not the status.
[[nodiscard]] Result<VerifyReport> verify_folder(const std::vector<ChecksumEntry>& list, const std::filesystem::path& dir);

// Checks every "<name>[_<size>].npz" directly in `dir` against the catalog's MD5 (MD5 report;
// MedMNIST copies hold any subset, so nothing is "missing"; other files are unexpected).
// kNotFound when `dir` is not a folder or holds no MedMNIST file.
[[nodiscard]] Result<VerifyReport> verify_medmnist_folder(const MedmnistCatalog& catalog, const std::filesystem::path& dir);

// ---------------------------------------------------------------------------------------------
// The datasets the project uses

enum class FetchMethod {
  kAutomatic,  // `fetch_medmnist`
  kManual,     // official source printed with instructions; verify with the checksum list
};

struct DatasetInfo {
  std::string_view name;            // CLI name: "medmnist", "busi", "drive", ...
  std::string_view alias;           // folder name in the shared data tree, "" if same
  std::string_view title;
  FetchMethod method;
  std::string_view official_source; // URL or package
  std::string_view instructions;    // how to obtain it and lay it out for `verify`
  std::string_view terms;           // licence / terms of use
  std::string_view checksum_list;   // file in the tables folder; "" for MedMNIST (MD5 table)
  std::string_view list_describes;  // what exactly the checksum list describes
};

// Every dataset, in a fixed order (MedMNIST first).
[[nodiscard]] std::span<const DatasetInfo> dataset_registry();
// By name or alias; kInvalidArgument listing the names otherwise.
[[nodiscard]] Result<const DatasetInfo*> find_dataset(std::string_view name);
// "medmnist, busi, drive, isbi2012, mricron, dicom"
[[nodiscard]] std::string dataset_names();

}  // namespace lucent::data
