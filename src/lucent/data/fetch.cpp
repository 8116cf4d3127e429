#include "lucent/data/fetch.h"

#if LUCENT_HAVE_CURL
#include <curl/curl.h>
#endif

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>

#include "lucent/core/atomic_file.h"
#include "lucent/core/hash.h"

namespace lucent::data {
namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------------------------------------
// Registry. Sources and terms follow the project's data README; the DICOM repositories and
// commits are those named in the collection's SOURCES.tsv (configs/datasets/dicom.sources.tsv).

constexpr std::array<DatasetInfo, 6> kDatasets{{
    {"medmnist", "", "MedMNIST v2/v3 (18 sets, 2-D and 3-D, 28/64/128/224 px)", FetchMethod::kAutomatic,
     "Zenodo record 10519652, https://zenodo.org/records/10519652",
     "lucent data fetch medmnist NAME [--size 28|64|128|224] [--dest DIR]\n"
     "downloads <name>.npz (28 px) or <name>_<size>.npz and checks the MD5 published with the release.",
     "CC BY 4.0 (DermaMNIST: CC BY-NC 4.0); cite MedMNIST v2 (Yang et al., Sci. Data 2023) and the source dataset",
     "", "MD5 of every file of the release, from the MedMNIST package's INFO table (configs/datasets/medmnist.json)"},
    {"busi", "", "BUSI: Breast Ultrasound Images (Al-Dhabyani et al. 2020)", FetchMethod::kManual,
     "https://scholar.cu.edu.eg/?q=afahmy/pages/dataset",
     "Download \"Dataset_BUSI_with_GT\" from the dataset page (780 PNG images in benign/, malignant/, normal/,\n"
     "each with its <image>_mask.png and, for 17 images, further _mask_1.png files).",
     "research use; cite Al-Dhabyani et al., Data in Brief 28:104863 (2020)", "busi.sha256",
     "the project's DOWNSCALED copy (8-bit grey, longer side at most 320 px, 1-bit masks; original file names),\n"
     "not the original release: files of the original download will be reported as mismatched"},
    {"drive", "", "DRIVE: Digital Retinal Images for Vessel Extraction (Staal et al. 2004)", FetchMethod::kManual,
     "https://drive.grand-challenge.org/",
     "Register on the challenge site and download the training and test archives; unpack them so that the\n"
     "folder holds training/{images,1st_manual,mask}/ and testing/{images,1st_manual,2nd_manual,mask}/.",
     "research use; cite Staal et al., IEEE TMI 23(4) 2004", "drive.sha256",
     "the 140 files (40 TIFF images, 1st/2nd-observer GIF masks, FOV GIF masks) in the challenge's folder layout,\n"
     "as found in the copy at github.com/mipple1986/data@92b9449 (DRIVE/datasets)"},
    {"isbi2012", "isbi2012_em_membrane", "ISBI 2012 EM segmentation challenge (the original U-Net data)",
     FetchMethod::kManual,
     "https://imagej.net/events/isbi-2012-segmentation-challenge (now hosted via the challenge's download page)",
     "Download train-volume.tif, train-labels.tif and test-volume.tif from the challenge's download page.\n"
     "The checksum list describes the stack as PNG slices train/image/N.png, train/label/N.png and\n"
     "test/image/N.png (N = 0..29), the layout published in github.com/zhixuhao/unet (data/membrane).",
     "research use; cite Arganda-Carreras et al., Front. Neuroanat. 2015", "isbi2012.sha256",
     "the 90 PNG slices as published in github.com/zhixuhao/unet@b45af4d (data/membrane)"},
    {"mricron", "mricron_ch2_aal", "Colin27 ch2 T1 brain MR and the AAL atlas (mricron templates)",
     FetchMethod::kManual, "Debian package mricron-data (1.2.20211006+dfsg-4)",
     "apt-get download mricron-data && dpkg-deb -x mricron-data_*.deb pkg\n"
     "then copy pkg/usr/share/mricron/templates/{aal.nii.gz,aal.nii.lut,aal.nii.txt,ch2.nii.gz,ch2bet.nii.gz}\n"
     "into the folder, and pkg/usr/share/doc/mricron-data/copyright as DEBIAN_COPYRIGHT.",
     "BSD-3 (Debian mricron-data); AAL and Colin27 have their own terms, see DEBIAN_COPYRIGHT", "mricron.sha256",
     "the 6 files as shipped in mricron-data 1.2.20211006+dfsg-4"},
    {"dicom", "", "DICOM test collection (294 DICOM files and references from public test-data repositories)",
     FetchMethod::kManual,
     "pydicom-data, dcm_qa_ts, dcm_qa_enh, highdicom, dcmqi and TorchIO GitHub repositories, and Debian python3-pydicom",
     "Each file comes from one of (configs/datasets/dicom.sources.tsv maps every file to its origin):\n"
     "  github.com/pydicom/pydicom-data@b0d40d1e0a42c5696936043bbd8059984259cd33   -> pydicom-data/   (MIT)\n"
     "  Debian python3-pydicom 2.3.1-1 test files                                  -> debian_python3-pydicom_2.3.1-1/ (MIT)\n"
     "  github.com/neurolabusc/dcm_qa_ts@fe4878a4971f649c7f0b551b76c3eaa58b135585   -> dcm_qa_ts/      (BSD-2)\n"
     "  github.com/neurolabusc/dcm_qa_enh@58953e7b0150c6b866b2cc2fc2b40366625672dc  -> dcm_qa_enh/     (BSD-2)\n"
     "  github.com/ImagingDataCommons/highdicom@49728738b395c40058f091f13a514b468dff9451 -> highdicom/ (MIT)\n"
     "  github.com/QIICR/dcmqi@b6137d9ee8cf6cd6c074fe27d1af26a30b578753             -> dcmqi/          (BSD-3)\n"
     "  github.com/TorchIO-project/torchio@2b019d2a9659c838408c73ae77327ac5eb87b190 -> torchio_ct_series/ (Apache-2.0)\n"
     "Clone each repository at the commit shown and copy the files to the paths listed in dicom.sources.tsv.",
     "per subfolder: pydicom and pydicom-data (MIT), dcm_qa_ts / dcm_qa_enh (BSD-2), highdicom (MIT), dcmqi (BSD-3), "
     "TorchIO test data (Apache-2.0)",
     "dicom.sha256", "the 335 files of the collection at the paths of dicom.sources.tsv"},
}};

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

bool is_hex(std::string_view s, std::size_t length) {
  return s.size() == length &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

#if LUCENT_HAVE_CURL
// ---------------------------------------------------------------------------------------------
// libcurl

void curl_global_once() {
  static std::once_flag once;
  // curl_global_init is not thread-safe itself; call_once makes the first download do it.
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlEasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f) std::fclose(f);
  }
};

struct TransferState {
  std::FILE* out = nullptr;
  bool write_failed = false;
  const DownloadOptions* options = nullptr;
};

size_t write_callback(char* data, size_t size, size_t count, void* user) {
  auto* st = static_cast<TransferState*>(user);
  const size_t n = size * count;
  if (std::fwrite(data, 1, n, st->out) != n) {
    st->write_failed = true;
    return 0;  // makes libcurl stop with CURLE_WRITE_ERROR
  }
  return n;
}

int progress_callback(void* user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t, curl_off_t) {
  auto* st = static_cast<TransferState*>(user);
  if (st->options->on_progress)
    st->options->on_progress(static_cast<std::uint64_t>(dlnow), static_cast<std::uint64_t>(dltotal));
  return 0;
}

Error curl_failure(CURLcode rc, long http_status, const std::string& url, const char* detail) {
  std::string what = std::string(curl_easy_strerror(rc));
  if (detail && *detail) what += " (" + std::string(detail) + ")";
  const std::string prefix = "downloading " + url + ": ";
  switch (rc) {
    case CURLE_HTTP_RETURNED_ERROR:
      if (http_status == 404 || http_status == 410)
        return Error(ErrorCode::kNotFound, prefix + "the server answered HTTP " + std::to_string(http_status) +
                                               " (no such file); check the dataset name, size and base URL");
      return Error(ErrorCode::kIoError, prefix + "the server answered HTTP " + std::to_string(http_status) +
                                            "; retry later or use a mirror (--url)");
    case CURLE_FILE_COULDNT_READ_FILE:
    case CURLE_REMOTE_FILE_NOT_FOUND:
      return Error(ErrorCode::kNotFound, prefix + what + "; check the base URL and that the file exists there");
    case CURLE_OPERATION_TIMEDOUT:
      return Error(ErrorCode::kTimeout, prefix + what +
                                            "; the server did not connect or the transfer stalled; retry, or check "
                                            "the network and proxy settings (libcurl honours https_proxy)");
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return Error(ErrorCode::kInvalidArgument, prefix + what + "; use an http://, https:// or file:// URL");
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      return Error(ErrorCode::kIoError,
                   prefix + what + "; check the network connection and proxy settings (https_proxy)");
    default:
      return Error(ErrorCode::kIoError, prefix + what);
  }
}
#endif  // LUCENT_HAVE_CURL

// ---------------------------------------------------------------------------------------------


template <typename T>
Result<T> json_get(const nlohmann::ordered_json& obj, const char* key, const std::string& where) {
  if (!obj.contains(key))
    return fail(ErrorCode::kInvalidData, where + ": missing key \"" + key + "\"");
  try {
    return obj.at(key).get<T>();
  } catch (const nlohmann::ordered_json::exception& e) {
    return fail(ErrorCode::kInvalidData, where + ": key \"" + key + "\" has the wrong type (" + e.what() + ")");
  }
}

Result<int> parse_int_key(const std::string& key, const std::string& where) {
  int v = 0;
  std::size_t used = 0;
  try {
    v = std::stoi(key, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != key.size() || used == 0 || v < 0)
    return fail(ErrorCode::kInvalidData, where + ": key \"" + key + "\" is not a non-negative integer");
  return v;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Tables

Result<fs::path> find_dataset_tables(const fs::path& explicit_dir) {
  std::error_code ec;
  const auto has_tables = [&](const fs::path& dir) { return fs::is_regular_file(dir / "medmnist.json", ec); };
  if (!explicit_dir.empty()) {
    if (has_tables(explicit_dir)) return explicit_dir;
    return fail(ErrorCode::kNotFound, "dataset tables folder " + explicit_dir.string() +
                                          " holds no medmnist.json; point it at the project's configs/datasets");
  }
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv(std::string(kTablesEnv).c_str()); env && *env) candidates.emplace_back(env);
  if (const fs::path exe = fs::read_symlink("/proc/self/exe", ec); !ec) {
    const fs::path bin = exe.parent_path();
    candidates.push_back(bin.parent_path() / "configs" / "datasets");
    candidates.push_back(bin.parent_path() / "share" / "lucent" / "datasets");
    candidates.push_back(bin / "configs" / "datasets");
  }
  candidates.push_back(fs::path("configs") / "datasets");
  std::vector<std::string> tried;
  for (const auto& c : candidates) {
    if (has_tables(c)) return c;
    tried.push_back(c.string());
  }
  return fail(ErrorCode::kNotFound, "cannot find the dataset tables (medmnist.json, <name>.sha256); looked in " +
                                        join(tried, ", ") + "; set " + std::string(kTablesEnv) +
                                        " to the project's configs/datasets folder");
}

// ---------------------------------------------------------------------------------------------
// MedMNIST catalog

Result<MedmnistCatalog> MedmnistCatalog::load(const fs::path& json_path) {
  auto text = read_file(json_path);
  if (!text) return std::unexpected(text.error().with_context("reading the MedMNIST table"));
  return parse(*text, json_path.string());
}

Result<MedmnistCatalog> MedmnistCatalog::parse(std::string_view json_text, std::string_view source_name) {
  const std::string src(source_name);
  nlohmann::ordered_json doc;  // keeps the table's order (2-D sets, then 3-D) for listings
  try {
    doc = nlohmann::ordered_json::parse(json_text);
  } catch (const nlohmann::ordered_json::exception& e) {
    return fail(ErrorCode::kInvalidData, src + ": not valid JSON (" + e.what() + ")");
  }
  if (!doc.is_object() || doc.empty())
    return fail(ErrorCode::kInvalidData, src + ": expected an object {name: entry, ...}");
  MedmnistCatalog cat;
  for (const auto& [name, e] : doc.items()) {
    const std::string where = src + ": " + name;
    if (!e.is_object()) return fail(ErrorCode::kInvalidData, where + ": entry is not an object");
    MedmnistEntry m;
    m.name = name;
    auto dims = json_get<int>(e, "dims", where);
    auto task = json_get<std::string>(e, "task", where);
    auto channels = json_get<int>(e, "n_channels", where);
    auto md5 = json_get<std::map<std::string, std::string>>(e, "md5", where);
    auto labels = json_get<std::map<std::string, std::string>>(e, "label", where);
    if (!dims) return std::unexpected(dims.error());
    if (!task) return std::unexpected(task.error());
    if (!channels) return std::unexpected(channels.error());
    if (!md5) return std::unexpected(md5.error());
    if (!labels) return std::unexpected(labels.error());
    if (*dims != 2 && *dims != 3) return fail(ErrorCode::kInvalidData, where + ": dims must be 2 or 3");
    if (*channels < 1) return fail(ErrorCode::kInvalidData, where + ": n_channels must be at least 1");
    m.spatial_dims = *dims;
    m.task = *task;
    m.n_channels = *channels;
    for (const auto& [size, digest] : *md5) {
      auto px = parse_int_key(size, where + " md5");
      if (!px) return std::unexpected(px.error());
      if (!is_hex(digest, 32))
        return fail(ErrorCode::kInvalidData, where + ": md5 for size " + size + " is not 32 lower-case hex digits");
      m.md5_by_size_px[*px] = digest;
    }
    if (m.md5_by_size_px.empty()) return fail(ErrorCode::kInvalidData, where + ": md5 lists no size");
    for (const auto& [index, meaning] : *labels) {
      auto i = parse_int_key(index, where + " label");
      if (!i) return std::unexpected(i.error());
      m.labels[*i] = meaning;
    }
    if (e.contains("license") && e["license"].is_string()) m.license = e["license"].get<std::string>();
    cat.entries_.push_back(std::move(m));
  }
  return cat;
}

Result<const MedmnistEntry*> MedmnistCatalog::find(std::string_view name) const {
  for (const auto& e : entries_)
    if (e.name == name) return &e;
  return fail(ErrorCode::kInvalidArgument,
              "unknown MedMNIST dataset '" + std::string(name) + "'; the release has: " + names());
}

bool MedmnistCatalog::contains(std::string_view name) const {
  return std::any_of(entries_.begin(), entries_.end(), [&](const MedmnistEntry& e) { return e.name == name; });
}

std::string MedmnistCatalog::names() const {
  std::vector<std::string> n;
  for (const auto& e : entries_) n.push_back(e.name);
  return join(n, ", ");
}

std::string medmnist_file_name(std::string_view name, int size_px) {
  return std::string(name) + (size_px == 28 ? std::string() : "_" + std::to_string(size_px)) + ".npz";
}

std::string medmnist_url(std::string_view base_url, std::string_view name, int size_px) {
  std::string url(base_url);
  if (!url.empty() && url.back() != '/') url += '/';
  return url + medmnist_file_name(name, size_px) + "?download=1";
}

// ---------------------------------------------------------------------------------------------
// Download


#if LUCENT_HAVE_CURL
Status download_to_file(const std::string& url, const fs::path& out, const DownloadOptions& options) {
  curl_global_once();
  std::unique_ptr<CURL, CurlEasyDeleter> curl(curl_easy_init());
  if (!curl) return fail(ErrorCode::kInternal, "libcurl could not create a transfer handle");
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(out.c_str(), "wb"));
  if (!file) return fail(ErrorCode::kIoError, "cannot create " + out.string() + " for the download");
  std::error_code ec;
  auto remove_out = [&] { fs::remove(out, ec); };

  TransferState state{file.get(), false, &options};
  char error_buffer[CURL_ERROR_SIZE] = {0};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  // file:// is allowed for the first URL (mirrors, offline tests) but a server may only redirect
  // to http(s), so a remote answer can never make us read a local file.
#if LIBCURL_VERSION_NUM >= 0x075500  // 7.85: string form; the bitmask form is deprecated there
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,file");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(c, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS | CURLPROTO_FILE);
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
#endif
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, options.connect_timeout_s);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, options.low_speed_limit_bytes_per_s);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, options.low_speed_time_s);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "lucent/0.1 (+libcurl)");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &write_callback);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &state);
  if (options.on_progress) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &progress_callback);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &state);
  }
  const CURLcode rc = curl_easy_perform(c);
  long http_status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http_status);
  const bool flushed = std::fflush(file.get()) == 0;
  const bool closed = std::fclose(file.release()) == 0;
  if (state.write_failed || (rc == CURLE_OK && (!flushed || !closed))) {
    remove_out();
    return fail(ErrorCode::kIoError, "downloading " + url + ": cannot write " + out.string() +
                                         " (disk full or not writable?); free space or choose another --dest");
  }
  if (rc != CURLE_OK) {
    remove_out();
    return std::unexpected(curl_failure(rc, http_status, url, error_buffer));
  }
  return ok();
}
#else
Status download_to_file(const std::string& url, const fs::path& out, const DownloadOptions& options) {
  return fail(ErrorCode::kUnsupported, "cannot download " + url + ": this Lucent was built with LUCENT_TORCH_ONLY=ON "
                                       "(no libcurl); copy the file to " + out.parent_path().string() +
                                       " by hand, or rebuild without it after scripts/setup.sh");
}
#endif  // LUCENT_HAVE_CURL

Result<FetchResult> fetch_medmnist(const MedmnistCatalog& catalog, std::string_view name, int size_px,
                                   const fs::path& dest_dir, const FetchOptions& options) {
  auto entry = catalog.find(name);
  if (!entry) return std::unexpected(entry.error());
  const MedmnistEntry& e = **entry;
  const auto md5_it = e.md5_by_size_px.find(size_px);
  if (md5_it == e.md5_by_size_px.end()) {
    std::vector<std::string> sizes;
    for (const auto& [px, _] : e.md5_by_size_px) sizes.push_back(std::to_string(px));
    return fail(ErrorCode::kInvalidArgument,
                e.name + " (" + std::to_string(e.spatial_dims) + "-D) is released in sizes " + join(sizes, ", ") +
                    " px, not " + std::to_string(size_px) + "; choose one of those with --size");
  }
  const std::string& expected = md5_it->second;

  FetchResult result;
  result.path = dest_dir / medmnist_file_name(e.name, size_px);
  result.url = medmnist_url(options.base_url, e.name, size_px);

  std::error_code ec;
  fs::create_directories(dest_dir, ec);
  if (ec || !fs::is_directory(dest_dir, ec))
    return fail(ErrorCode::kIoError, "cannot create the destination folder " + dest_dir.string() + ": " +
                                         (ec ? ec.message() : "a file of that name is in the way"));

  bool replacing = false;
  if (fs::exists(result.path, ec)) {
    if (!fs::is_regular_file(result.path, ec))
      return fail(ErrorCode::kInvalidArgument,
                  result.path.string() + " exists and is not a regular file; move it away and retry");
    auto present = md5_file(result.path);
    if (!present) return std::unexpected(present.error().with_context("checking the existing file"));
    if (*present == expected) {
      result.outcome = FetchOutcome::kAlreadyPresent;
      result.md5 = *present;
      result.bytes = fs::file_size(result.path, ec);
      return result;
    }
    if (!options.force)
      return fail(ErrorCode::kAlreadyExists,
                  result.path.string() + " exists but its MD5 is " + *present + ", expected " + expected +
                      " (" + e.name + ", " + std::to_string(size_px) +
                      " px); it is corrupt or a different version. Pass --force to replace it, or move it away");
    replacing = true;
  }

  auto st = write_atomically(result.path, [&](const fs::path& tmp) -> Status {
    if (auto d = download_to_file(result.url, tmp, options.download); !d) return d;
    auto found = md5_file(tmp);
    if (!found) return std::unexpected(found.error().with_context("checking the download"));
    if (*found != expected)
      return fail(ErrorCode::kInvalidData,
                  "checksum mismatch for " + result.url + ": MD5 expected " + expected + " (" + e.name + ", " +
                      std::to_string(size_px) + " px, MedMNIST release table), found " + *found +
                      "; the download was discarded. The server sent a different or damaged file: retry, "
                      "or check the base URL (--url / " + std::string(kBaseUrlEnv) + ")");
    return ok();
  });
  if (!st) return std::unexpected(st.error());
  result.outcome = replacing ? FetchOutcome::kReplaced : FetchOutcome::kDownloaded;
  result.md5 = expected;
  result.bytes = fs::file_size(result.path, ec);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Checksum lists

Result<std::vector<ChecksumEntry>> parse_sha256_list(std::string_view text, std::string_view source_name) {
  std::vector<ChecksumEntry> out;
  std::set<std::string> seen;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    const std::string where = std::string(source_name) + ":" + std::to_string(line_no);
    if (line.size() < 67 || !is_hex(line.substr(0, 64), 64) || line[64] != ' ' || (line[65] != ' ' && line[65] != '*'))
      return fail(ErrorCode::kInvalidData,
                  where + ": expected \"<64 lower-case hex digits>  <path>\" (sha256sum format), found \"" +
                      std::string(line.substr(0, 80)) + "\"");
    std::string path(line.substr(66));
    if (path.starts_with("./")) path.erase(0, 2);
    const fs::path p(path);
    const bool escapes = std::any_of(p.begin(), p.end(), [](const fs::path& part) { return part == ".."; });
    if (path.empty() || p.is_absolute() || escapes)
      return fail(ErrorCode::kInvalidData, where + ": path \"" + path + "\" must be relative and stay inside the folder");
    if (!seen.insert(path).second) return fail(ErrorCode::kInvalidData, where + ": " + path + " is listed twice");
    out.push_back({std::move(path), std::string(line.substr(0, 64))});
  }
  if (out.empty()) return fail(ErrorCode::kInvalidData, std::string(source_name) + ": lists no file");
  return out;
}

Result<std::vector<ChecksumEntry>> load_sha256_list(const fs::path& path) {
  auto text = read_file(path);
  if (!text) return std::unexpected(text.error().with_context("reading checksum list"));
  return parse_sha256_list(*text, path.string());
}

Status VerifyReport::status(std::string_view dataset, const fs::path& dir) const {
  if (passed()) return lucent::ok();
  std::vector<std::string> parts;
  if (!mismatched.empty()) parts.push_back(std::to_string(mismatched.size()) + " mismatched");
  if (!missing.empty()) parts.push_back(std::to_string(missing.size()) + " missing");
  if (!unreadable.empty()) parts.push_back(std::to_string(unreadable.size()) + " unreadable");
  const std::size_t bad = mismatched.size() + missing.size() + unreadable.size();
  const ErrorCode code = (mismatched.empty() && unreadable.empty()) ? ErrorCode::kNotFound : ErrorCode::kInvalidData;
  std::string next = "the files named above are missing or differ from the checksum list: replace them from the "
                     "official source (lucent data fetch " + std::string(dataset) + ")";
  if (ok == 0 && missing.size() == listed)
    next = "none of the listed files is there: give the dataset's top folder (the one the list's paths start from, "
           "see lucent data fetch " + std::string(dataset) + ")";
  return fail(code, std::string(dataset) + " in " + dir.string() + ": " + std::to_string(bad) + " of " +
                        std::to_string(listed) + " files failed (" + join(parts, ", ") + "; " + std::to_string(ok) +
                        " ok); " + next);
}

Result<VerifyReport> verify_folder(const std::vector<ChecksumEntry>& list, const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return fail(ErrorCode::kNotFound, "folder " + dir.string() + " does not exist; give the dataset's folder");
  VerifyReport report;
  report.listed = list.size();
  std::set<std::string> listed;
  for (const auto& entry : list) {
    listed.insert(entry.path);
    const fs::path file = dir / fs::path(entry.path);
    if (!fs::exists(file, ec)) {
      report.missing.push_back(entry.path);
      continue;
    }
    auto found = sha256_file(file);
    if (!found) {
      report.unreadable.push_back(entry.path + ": " + found.error().message());
      continue;
    }
    if (*found == entry.sha256) ++report.ok;
    else report.mismatched.push_back({entry.path, entry.sha256, *found});
  }
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
  if (ec) return fail(ErrorCode::kIoError, "cannot list " + dir.string() + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return fail(ErrorCode::kIoError, "cannot list " + dir.string() + ": " + ec.message());
    if (it->is_directory(ec)) continue;
    const std::string rel = fs::relative(it->path(), dir, ec).generic_string();
    if (rel == "SHA256SUMS" || rel == "SOURCES.tsv") continue;
    if (!listed.contains(rel)) report.unexpected.push_back(rel);
  }
  std::sort(report.unexpected.begin(), report.unexpected.end());
  return report;
}

Result<VerifyReport> verify_medmnist_folder(const MedmnistCatalog& catalog, const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return fail(ErrorCode::kNotFound, "folder " + dir.string() + " does not exist; give the MedMNIST folder");
  VerifyReport report;
  report.algorithm = "MD5";
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (!it->is_directory(ec)) files.push_back(it->path());
  if (ec) return fail(ErrorCode::kIoError, "cannot list " + dir.string() + ": " + ec.message());
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    const std::string fname = file.filename().string();
    const MedmnistEntry* match = nullptr;
    int match_px = 0;
    for (const auto& e : catalog.entries())
      for (const auto& [px, _] : e.md5_by_size_px)
        if (medmnist_file_name(e.name, px) == fname) {
          match = &e;
          match_px = px;
        }
    if (!match) {
      report.unexpected.push_back(fname);
      continue;
    }
    ++report.listed;
    auto found = md5_file(file);
    if (!found) report.unreadable.push_back(fname + ": " + found.error().message());
    else if (*found == match->md5_by_size_px.at(match_px)) ++report.ok;
    else report.mismatched.push_back({fname, match->md5_by_size_px.at(match_px), *found});
  }
  if (report.listed == 0)
    return fail(ErrorCode::kNotFound, dir.string() + " holds no MedMNIST file (<name>.npz or <name>_<size>.npz); "
                                                     "fetch one with: lucent data fetch medmnist NAME");
  return report;
}

// ---------------------------------------------------------------------------------------------
// Registry

std::span<const DatasetInfo> dataset_registry() { return kDatasets; }

std::string dataset_names() {
  std::vector<std::string> n;
  for (const auto& d : kDatasets) n.emplace_back(d.name);
  return join(n, ", ");
}

Result<const DatasetInfo*> find_dataset(std::string_view name) {
  for (const auto& d : kDatasets)
    if (d.name == name || (!d.alias.empty() && d.alias == name)) return &d;
  return fail(ErrorCode::kInvalidArgument, "unknown dataset '" + std::string(name) + "'; known: " + dataset_names() +
                                               " (MedMNIST sets: lucent data fetch medmnist NAME)");
}

}  // namespace lucent::data
