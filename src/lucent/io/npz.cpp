// NumPy .npz reading: a small zip reader (stored and deflated members, CRC-32 checked) and a
// .npy parser. Every offset and size read from the file is checked against the bytes actually
// present before it is used; the parsers are fuzzed under AddressSanitizer.
//
// Zip support: the end-of-central-directory record, the central directory and local headers.
// Per-member zip64 extra fields are understood (NumPy's savez forces them on every member);
// the zip64 end-of-central-directory record (archives over 4 GiB or 65535 members), encrypted
// members and compression methods other than stored (0) and deflate (8) are kUnsupported.
// Sizes and CRCs come from the central directory (local headers may defer them to a data
// descriptor).
//
// .npy: format versions 1.0, 2.0 and 3.0; header dict with 'descr', 'fortran_order', 'shape'.
// dtypes → tensors: |b1 → bool, |u1 → uint8, |i1 → int8, <i2 → int16, <u2 → int32,
// <i4 → int32, <u4 → int64, <i8 → int64, <u8 → int64 (kUnsupported above 2^63-1),
// <f2 → float16, <f4 → float32, <f8 → float64. Big-endian multi-byte types, objects, strings
// and structured dtypes are kUnsupported. Fortran-ordered arrays come back as contiguous
// C-ordered tensors of the same shape.
//
// MedMNIST layout: keys <split>_images and <split>_labels.
//   images (N, H, W)                                  → 2-D grey     → (N, 1, H, W)
//   images (N, H, W, 3) with 3 < H and 3 < W          → 2-D RGB      → (N, 3, H, W)
//   images (N, D, H, W) otherwise (28³ / 64³ sets)    → 3-D grey     → (N, 1, D, H, W)
// Images are uint8 (an integer array with values in 0..255 is converted); labels become
// int64 (N, L) ((N,) is read as (N, 1)).
#include "lucent/io/npz.h"

#include <ATen/ATen.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "lucent/core/atomic_file.h"

namespace lucent::io {
namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------------------------------------
// Little-endian reads with bounds checks.

uint16_t le16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t le32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t le64(const unsigned char* p) { return static_cast<uint64_t>(le32(p)) | (static_cast<uint64_t>(le32(p + 4)) << 32); }

// True when [offset, offset + length) lies inside a buffer of `size` bytes (no overflow).
bool in_bounds(uint64_t offset, uint64_t length, uint64_t size) { return offset <= size && length <= size - offset; }

constexpr uint32_t kLocalHeaderSig = 0x04034b50;
constexpr uint32_t kCentralHeaderSig = 0x02014b50;
constexpr uint32_t kEndOfCentralDirSig = 0x06054b50;
constexpr uint32_t kZip64EndLocatorSig = 0x07064b50;
constexpr size_t kEocdSize = 22;
constexpr size_t kCentralHeaderSize = 46;
constexpr size_t kLocalHeaderSize = 30;
// Deflate cannot expand data by more than about 1032:1; a declared size beyond that is a lie.
constexpr uint64_t kMaxDeflateRatio = 1032;

struct ZipMember {
  std::string name;
  uint16_t flags = 0;
  uint16_t method = 0;
  uint32_t crc = 0;
  uint64_t compressed_size = 0;
  uint64_t uncompressed_size = 0;
  uint64_t local_header_offset = 0;
};

Result<std::vector<ZipMember>> read_central_directory(std::string_view zip, const std::string& where) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(zip.data());
  const uint64_t size = zip.size();
  auto invalid = [&](const std::string& what) {
    return fail(ErrorCode::kInvalidData, where + " is not a valid zip/npz archive: " + what);
  };
  if (size < kEocdSize) return invalid("only " + std::to_string(size) + " bytes (truncated?)");

  // The end-of-central-directory record is in the last 22 + 65535 (comment) bytes.
  std::optional<uint64_t> eocd;
  const uint64_t lowest = size >= kEocdSize + 0xFFFF ? size - kEocdSize - 0xFFFF : 0;
  for (uint64_t pos = size - kEocdSize + 1; pos-- > lowest;) {
    if (le32(bytes + pos) == kEndOfCentralDirSig) {
      const uint16_t comment_len = le16(bytes + pos + 20);
      if (pos + kEocdSize + comment_len <= size) {
        eocd = pos;
        break;
      }
    }
  }
  if (!eocd) return invalid("no end-of-central-directory record (truncated or not a zip file)");
  const unsigned char* e = bytes + *eocd;
  const uint16_t disk = le16(e + 4), cd_disk = le16(e + 6);
  const uint16_t entries_here = le16(e + 8), entries_total = le16(e + 10);
  const uint32_t cd_size = le32(e + 12), cd_offset = le32(e + 16);
  if (*eocd >= 20 && le32(bytes + *eocd - 20) == kZip64EndLocatorSig)
    return fail(ErrorCode::kUnsupported, where + " is a zip64 archive (over 4 GiB or 65535 members); "
                                                 "Lucent reads plain zip .npz files — save smaller arrays");
  if (entries_total == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF)
    return fail(ErrorCode::kUnsupported, where + " needs zip64 central-directory records, which Lucent does not read");
  if (disk != 0 || cd_disk != 0 || entries_here != entries_total)
    return fail(ErrorCode::kUnsupported, where + " is a multi-part (spanned) zip archive");
  if (!in_bounds(cd_offset, cd_size, *eocd)) return invalid("central directory lies outside the file (truncated?)");

  std::vector<ZipMember> members;
  members.reserve(entries_total);
  uint64_t pos = cd_offset;
  const uint64_t cd_end = uint64_t{cd_offset} + cd_size;
  for (unsigned i = 0; i < entries_total; ++i) {
    if (!in_bounds(pos, kCentralHeaderSize, cd_end)) return invalid("central directory entry " + std::to_string(i) + " is truncated");
    const unsigned char* h = bytes + pos;
    if (le32(h) != kCentralHeaderSig) return invalid("bad signature of central directory entry " + std::to_string(i));
    ZipMember m;
    m.flags = le16(h + 8);
    m.method = le16(h + 10);
    m.crc = le32(h + 16);
    m.compressed_size = le32(h + 20);
    m.uncompressed_size = le32(h + 24);
    const uint16_t name_len = le16(h + 28), extra_len = le16(h + 30), comment_len = le16(h + 32);
    m.local_header_offset = le32(h + 42);
    const uint64_t var_len = uint64_t{name_len} + extra_len + comment_len;
    if (!in_bounds(pos + kCentralHeaderSize, var_len, cd_end))
      return invalid("central directory entry " + std::to_string(i) + " overruns the directory");
    m.name.assign(reinterpret_cast<const char*>(h + kCentralHeaderSize), name_len);

    // Zip64 extended information: the fields that are 0xFFFFFFFF follow, in this order.
    const unsigned char* x = h + kCentralHeaderSize + name_len;
    uint64_t xpos = 0;
    while (xpos + 4 <= extra_len) {
      const uint16_t id = le16(x + xpos), len = le16(x + xpos + 2);
      if (xpos + 4 + len > extra_len) return invalid("malformed extra field of member '" + m.name + "'");
      if (id == 0x0001) {
        const unsigned char* z = x + xpos + 4;
        uint64_t zpos = 0;
        auto take = [&](uint64_t& field) -> bool {
          if (zpos + 8 > len) return false;
          field = le64(z + zpos);
          zpos += 8;
          return true;
        };
        if (m.uncompressed_size == 0xFFFFFFFF && !take(m.uncompressed_size)) return invalid("short zip64 field in '" + m.name + "'");
        if (m.compressed_size == 0xFFFFFFFF && !take(m.compressed_size)) return invalid("short zip64 field in '" + m.name + "'");
        if (m.local_header_offset == 0xFFFFFFFF && !take(m.local_header_offset)) return invalid("short zip64 field in '" + m.name + "'");
      }
      xpos += 4 + uint64_t{len};
    }
    members.push_back(std::move(m));
    pos += kCentralHeaderSize + var_len;
  }
  return members;
}

Result<std::string> extract_member(std::string_view zip, const ZipMember& m, const std::string& where) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(zip.data());
  const uint64_t size = zip.size();
  const std::string what = where + " member '" + m.name + "'";
  auto invalid = [&](const std::string& why) { return fail(ErrorCode::kInvalidData, what + " is corrupt: " + why); };
  if (m.flags & 0x0001) return fail(ErrorCode::kUnsupported, what + " is encrypted; Lucent reads unencrypted archives only");
  if (m.method != 0 && m.method != 8)
    return fail(ErrorCode::kUnsupported, what + " uses compression method " + std::to_string(m.method) +
                                             "; Lucent reads stored (0) and deflate (8) members — re-save with numpy.savez");
  if (!in_bounds(m.local_header_offset, kLocalHeaderSize, size)) return invalid("local header lies outside the file (truncated?)");
  const unsigned char* lh = bytes + m.local_header_offset;
  if (le32(lh) != kLocalHeaderSig) return invalid("bad local header signature");
  const uint64_t data_start = m.local_header_offset + kLocalHeaderSize + le16(lh + 26) + le16(lh + 28);
  if (!in_bounds(data_start, m.compressed_size, size))
    return invalid("its data (" + std::to_string(m.compressed_size) + " bytes) run past the end of the file (truncated?)");
  const unsigned char* data = bytes + data_start;

  std::string out;
  if (m.method == 0) {
    if (m.compressed_size != m.uncompressed_size) return invalid("stored member with different compressed and uncompressed sizes");
    out.assign(reinterpret_cast<const char*>(data), m.compressed_size);
  } else {
    if (m.uncompressed_size > m.compressed_size * kMaxDeflateRatio + 1024)
      return invalid("declared size " + std::to_string(m.uncompressed_size) + " is impossible for " +
                     std::to_string(m.compressed_size) + " compressed bytes");
    out.resize(m.uncompressed_size);
    z_stream zs{};
    if (inflateInit2(&zs, -15) != Z_OK) return fail(ErrorCode::kInternal, "zlib inflateInit2 failed for " + what);
    uint64_t in_done = 0, out_done = 0;
    constexpr uint64_t kChunk = 1u << 30;  // z_stream counts in uInt
    int rc = Z_OK;
    for (;;) {
      if (zs.avail_in == 0 && in_done < m.compressed_size) {
        const uint64_t n = std::min<uint64_t>(kChunk, m.compressed_size - in_done);
        zs.next_in = const_cast<Bytef*>(data + in_done);
        zs.avail_in = static_cast<uInt>(n);
        in_done += n;
      }
      if (zs.avail_out == 0 && out_done < m.uncompressed_size) {
        const uint64_t n = std::min<uint64_t>(kChunk, m.uncompressed_size - out_done);
        zs.next_out = reinterpret_cast<Bytef*>(out.data() + out_done);
        zs.avail_out = static_cast<uInt>(n);
        out_done += n;
      }
      // Once the declared size is filled the stream must end; one byte of scratch tells.
      unsigned char scratch = 0;
      const bool output_full = zs.avail_out == 0;
      if (output_full) {
        zs.next_out = &scratch;
        zs.avail_out = 1;
      }
      rc = inflate(&zs, Z_NO_FLUSH);
      if (output_full) {
        const bool overflowed = zs.avail_out == 0;
        zs.next_out = nullptr;
        zs.avail_out = 0;
        if (overflowed) {
          inflateEnd(&zs);
          return invalid("inflates to more than the declared " + std::to_string(m.uncompressed_size) + " bytes");
        }
      }
      if (rc == Z_STREAM_END) break;
      if (rc == Z_BUF_ERROR && zs.avail_in == 0 && in_done == m.compressed_size) {
        inflateEnd(&zs);
        return invalid("deflate stream ends early (truncated?)");
      }
      if (rc != Z_OK) break;
    }
    const uint64_t total_out = zs.total_out;
    const std::string zmsg = zs.msg ? zs.msg : "";
    inflateEnd(&zs);
    if (rc != Z_STREAM_END) return invalid("deflate data error" + (zmsg.empty() ? std::string() : ": " + zmsg));
    if (total_out != m.uncompressed_size)
      return invalid("inflated to " + std::to_string(total_out) + " bytes, the directory says " +
                     std::to_string(m.uncompressed_size));
  }
  uLong crc = crc32(0L, Z_NULL, 0);
  for (uint64_t done = 0; done < out.size();) {
    const uint64_t n = std::min<uint64_t>(1u << 30, out.size() - done);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(out.data() + done), static_cast<uInt>(n));
    done += n;
  }
  if (static_cast<uint32_t>(crc) != m.crc) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "CRC-32 mismatch (stored %08x, computed %08x)", m.crc, static_cast<uint32_t>(crc));
    return invalid(buf);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// .npy header: a Python dict literal.

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
};

class DictParser {
 public:
  explicit DictParser(std::string_view s) : s_(s) {}

  Result<NpyHeader> parse(const std::string& name) {
    auto bad = [&](const std::string& why) {
      return fail(ErrorCode::kInvalidData, "array '" + name + "' has a malformed .npy header (" + why + ")");
    };
    NpyHeader h;
    bool have_descr = false, have_order = false, have_shape = false;
    skip_ws();
    if (!eat('{')) return bad("expected '{'");
    while (true) {
      skip_ws();
      if (eat('}')) break;
      auto key = parse_string();
      if (!key) return bad("expected a quoted key");
      skip_ws();
      if (!eat(':')) return bad("expected ':' after '" + *key + "'");
      skip_ws();
      if (*key == "descr") {
        if (peek() == '[')
          return fail(ErrorCode::kUnsupported, "array '" + name + "' has a structured dtype; Lucent reads plain numeric arrays");
        auto v = parse_string();
        if (!v) return bad("'descr' is not a string");
        h.descr = *v;
        have_descr = true;
      } else if (*key == "fortran_order") {
        if (take_word("True")) h.fortran_order = true;
        else if (take_word("False")) h.fortran_order = false;
        else return bad("'fortran_order' is not True/False");
        have_order = true;
      } else if (*key == "shape") {
        if (!eat('(')) return bad("'shape' is not a tuple");
        while (true) {
          skip_ws();
          if (eat(')')) break;
          auto n = parse_int();
          if (!n) return bad("'shape' holds a non-integer or an out-of-range size");
          h.shape.push_back(*n);
          skip_ws();
          if (eat(',')) continue;
          if (eat(')')) break;
          return bad("expected ',' or ')' in 'shape'");
        }
        have_shape = true;
      } else {
        return bad("unexpected key '" + *key + "'");
      }
      skip_ws();
      if (eat(',')) continue;
      if (eat('}')) break;
      return bad("expected ',' or '}'");
    }
    if (!have_descr || !have_order || !have_shape) return bad("missing 'descr', 'fortran_order' or 'shape'");
    return h;
  }

 private:
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool eat(char c) {
    if (peek() != c || pos_ >= s_.size()) return false;
    ++pos_;
    return true;
  }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  bool take_word(std::string_view w) {
    if (s_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }
  std::optional<std::string> parse_string() {
    const char q = peek();
    if (q != '\'' && q != '"') return std::nullopt;
    ++pos_;
    const size_t end = s_.find(q, pos_);
    if (end == std::string_view::npos) return std::nullopt;
    std::string out(s_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return out;
  }
  std::optional<int64_t> parse_int() {
    int64_t v = 0;
    size_t digits = 0;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
      if (v > (std::numeric_limits<int64_t>::max() - 9) / 10) return std::nullopt;
      v = v * 10 + (s_[pos_] - '0');
      ++pos_;
      ++digits;
    }
    if (digits == 0) return std::nullopt;
    if (peek() == 'L') ++pos_;  // Python 2 longs
    return v;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

struct DtypeInfo {
  at::ScalarType raw;    // the type the bytes are copied into
  size_t itemsize;
  char kind;             // 'b', 'u', 'i', 'f'
};

Result<DtypeInfo> parse_descr(const std::string& descr, const std::string& name) {
  auto unsupported = [&](const std::string& why) {
    return fail(ErrorCode::kUnsupported, "array '" + name + "' has dtype '" + descr + "': " + why);
  };
  if (descr.size() < 2) return fail(ErrorCode::kInvalidData, "array '" + name + "' has an empty or malformed dtype '" + descr + "'");
  char order = descr[0];
  std::string rest = descr.substr(1);
  if (order != '<' && order != '>' && order != '|' && order != '=') {
    order = '|';
    rest = descr;
  }
  const char kind = rest[0];
  if (kind == 'O') return unsupported("object arrays hold Python objects; save numeric arrays");
  if (rest.size() < 2) return fail(ErrorCode::kInvalidData, "array '" + name + "' has a malformed dtype '" + descr + "'");
  size_t itemsize = 0;
  for (size_t i = 1; i < rest.size(); ++i) {
    if (rest[i] < '0' || rest[i] > '9' || itemsize > 1000) return unsupported("not a plain numeric type");
    itemsize = itemsize * 10 + static_cast<size_t>(rest[i] - '0');
  }
  if (order == '>' && itemsize > 1) return unsupported("big-endian data; convert with arr.astype(arr.dtype.newbyteorder('<'))");
  switch (kind) {
    case 'b':
      if (itemsize == 1) return DtypeInfo{at::kByte, 1, 'b'};
      break;
    case 'u':
      if (itemsize == 1) return DtypeInfo{at::kByte, 1, 'u'};
      if (itemsize == 2) return DtypeInfo{at::kShort, 2, 'u'};
      if (itemsize == 4) return DtypeInfo{at::kInt, 4, 'u'};
      if (itemsize == 8) return DtypeInfo{at::kLong, 8, 'u'};
      break;
    case 'i':
      if (itemsize == 1) return DtypeInfo{at::kChar, 1, 'i'};
      if (itemsize == 2) return DtypeInfo{at::kShort, 2, 'i'};
      if (itemsize == 4) return DtypeInfo{at::kInt, 4, 'i'};
      if (itemsize == 8) return DtypeInfo{at::kLong, 8, 'i'};
      break;
    case 'f':
      if (itemsize == 2) return DtypeInfo{at::kHalf, 2, 'f'};
      if (itemsize == 4) return DtypeInfo{at::kFloat, 4, 'f'};
      if (itemsize == 8) return DtypeInfo{at::kDouble, 8, 'f'};
      break;
    default: break;
  }
  return unsupported("Lucent reads bool, (u)int8/16/32/64 and float16/32/64");
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

}  // namespace

namespace {

Result<at::Tensor> parse_npy_impl(std::string_view bytes, const std::string& name) {
  static constexpr std::string_view kMagic("\x93NUMPY", 6);
  if (bytes.size() < 10 || bytes.substr(0, 6) != kMagic)
    return fail(ErrorCode::kInvalidData, "array '" + name + "' is not a .npy file (missing the \\x93NUMPY magic)");
  const auto* u = reinterpret_cast<const unsigned char*>(bytes.data());
  const unsigned major = u[6], minor = u[7];
  uint64_t header_len = 0, header_start = 0;
  if (major == 1) {
    header_len = le16(u + 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return fail(ErrorCode::kInvalidData, "array '" + name + "' has a truncated .npy header");
    header_len = le32(u + 8);
    header_start = 12;
  } else {
    return fail(ErrorCode::kUnsupported, "array '" + name + "' uses .npy format version " + std::to_string(major) + "." +
                                             std::to_string(minor) + "; Lucent reads 1.0, 2.0 and 3.0");
  }
  if (!in_bounds(header_start, header_len, bytes.size()))
    return fail(ErrorCode::kInvalidData, "array '" + name + "' has a .npy header longer than the file (" +
                                             std::to_string(header_len) + " bytes declared)");
  auto header = DictParser(bytes.substr(header_start, header_len)).parse(name);
  if (!header) return std::unexpected(header.error());
  auto dtype = parse_descr(header->descr, name);
  if (!dtype) return std::unexpected(dtype.error());

  if (header->shape.size() > 32)
    return fail(ErrorCode::kUnsupported, "array '" + name + "' has " + std::to_string(header->shape.size()) +
                                             " dimensions; Lucent reads up to 32");
  uint64_t count = 1;
  for (const int64_t d : header->shape) {
    if (d < 0 || __builtin_mul_overflow(count, static_cast<uint64_t>(d), &count))
      return fail(ErrorCode::kInvalidData, "array '" + name + "' has an impossible shape " + shape_text(header->shape));
  }
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(count, dtype->itemsize, &nbytes))
    return fail(ErrorCode::kInvalidData, "array '" + name + "' has an impossible shape " + shape_text(header->shape));
  const uint64_t data_start = header_start + header_len;
  const uint64_t available = bytes.size() - data_start;
  if (available != nbytes)
    return fail(ErrorCode::kInvalidData, "array '" + name + "' of shape " + shape_text(header->shape) + " and dtype '" +
                                             header->descr + "' needs " + std::to_string(nbytes) +
                                             " bytes of data, the file holds " + std::to_string(available) +
                                             (available < nbytes ? " (truncated?)" : ""));

  // Fortran order: the bytes are the C-ordered array of the reversed shape, transposed.
  std::vector<int64_t> mem_shape = header->shape;
  if (header->fortran_order) std::reverse(mem_shape.begin(), mem_shape.end());
  at::Tensor t = at::empty(mem_shape, at::TensorOptions().dtype(dtype->raw));
  if (nbytes > 0) std::memcpy(t.data_ptr(), bytes.data() + data_start, nbytes);
  if (header->fortran_order && t.dim() > 1) {
    std::vector<int64_t> perm(static_cast<size_t>(t.dim()));
    for (size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<int64_t>(perm.size() - 1 - i);
    t = t.permute(perm);
  }
  t = t.contiguous();

  switch (dtype->kind) {
    case 'b': t = t.ne(0); break;
    case 'u':
      if (dtype->itemsize == 2) t = t.to(at::kInt).bitwise_and(0xFFFF);
      else if (dtype->itemsize == 4) t = t.to(at::kLong).bitwise_and(int64_t{0xFFFFFFFF});
      else if (dtype->itemsize == 8 && t.numel() > 0 && t.lt(0).any().item<bool>())
        return fail(ErrorCode::kUnsupported, "array '" + name + "' (uint64) holds values above 2^63-1, which int64 cannot hold");
      break;
    default: break;
  }
  return t;
}

}  // namespace

Result<at::Tensor> parse_npy(std::string_view bytes, const std::string& name) {
  try {
    return parse_npy_impl(bytes, name);
  } catch (const std::bad_alloc&) {
    return fail(ErrorCode::kResourceExhausted, "out of memory while reading array '" + name + "'");
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInternal, "reading array '" + name + "': " + e.what());
  }
}

Result<std::map<std::string, at::Tensor>> read_npz(const fs::path& path) {
  auto file = read_file(path);
  if (!file) return std::unexpected(file.error());
  const std::string& zip = *file;
  const std::string where = path.string();
  auto members = read_central_directory(zip, where);
  if (!members) return std::unexpected(members.error());
  std::map<std::string, at::Tensor> arrays;
  try {
    for (const ZipMember& m : *members) {
      if (!m.name.empty() && m.name.back() == '/') continue;  // folder entry
      std::string key = m.name;
      if (key.size() > 4 && key.ends_with(".npy")) key.resize(key.size() - 4);
      if (arrays.contains(key))
        return fail(ErrorCode::kInvalidData, where + " holds the array '" + key + "' twice");
      auto bytes = extract_member(zip, m, where);
      if (!bytes) return std::unexpected(bytes.error());
      auto t = parse_npy(*bytes, m.name);
      if (!t) return std::unexpected(t.error().with_context(where));
      arrays.emplace(std::move(key), std::move(*t));
    }
  } catch (const std::bad_alloc&) {
    return fail(ErrorCode::kResourceExhausted, "out of memory while reading " + where);
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInternal, "reading " + where + ": " + e.what());
  }
  return arrays;
}

Result<MedMnistSplit> read_medmnist(const fs::path& path, const std::string& split) {
  auto arrays = read_npz(path);
  if (!arrays) return std::unexpected(arrays.error());
  const std::string where = path.string();
  const auto images_it = arrays->find(split + "_images");
  const auto labels_it = arrays->find(split + "_labels");
  if (images_it == arrays->end() || labels_it == arrays->end()) {
    std::string keys;
    for (const auto& [k, v] : *arrays) keys += (keys.empty() ? "" : ", ") + k;
    return fail(ErrorCode::kInvalidArgument, "no split '" + split + "' in " + where + " (expected keys " + split +
                                                 "_images and " + split + "_labels; the file has: " +
                                                 (keys.empty() ? std::string("nothing") : keys) +
                                                 "); use train, val or test");
  }
  try {
    at::Tensor images = images_it->second;
    at::Tensor labels = labels_it->second;
    auto shape_of = [](const at::Tensor& t) {
      std::vector<int64_t> s(t.sizes().begin(), t.sizes().end());
      return shape_text(s);
    };
    MedMnistSplit out;
    if (images.scalar_type() != at::kByte) {
      if (!at::isIntegralType(images.scalar_type(), /*includeBool=*/false) ||
          (images.numel() > 0 && (images.min().item<int64_t>() < 0 || images.max().item<int64_t>() > 255)))
        return fail(ErrorCode::kInvalidData, split + "_images in " + where + " are " +
                                                 std::string(c10::toString(images.scalar_type())) +
                                                 "; MedMNIST images are uint8 (0..255)");
      images = images.to(at::kByte);
    }
    if (images.dim() == 3) {
      out.images = images.unsqueeze(1);
      out.spatial_dims = 2;
    } else if (images.dim() == 4) {
      const bool rgb = images.size(3) == 3 && images.size(1) > 3 && images.size(2) > 3;
      if (rgb) {
        out.images = images.permute({0, 3, 1, 2});
        out.spatial_dims = 2;
      } else {
        out.images = images.unsqueeze(1);
        out.spatial_dims = 3;
      }
    } else {
      return fail(ErrorCode::kInvalidData, split + "_images in " + where + " have shape " + shape_of(images) +
                                               "; MedMNIST images are (N, H, W), (N, H, W, 3) or (N, D, H, W)");
    }
    out.images = out.images.contiguous();
    if (labels.dim() == 1) labels = labels.unsqueeze(1);
    if (labels.dim() != 2 || labels.size(0) != out.images.size(0))
      return fail(ErrorCode::kInvalidData, split + "_labels in " + where + " have shape " + shape_of(labels) +
                                               "; expected (" + std::to_string(out.images.size(0)) +
                                               ", L) to match " + split + "_images");
    if (at::isFloatingType(labels.scalar_type()) && labels.numel() > 0 &&
        !labels.eq(labels.round()).all().item<bool>())
      return fail(ErrorCode::kInvalidData, split + "_labels in " + where + " are not whole numbers");
    out.labels = labels.to(at::kLong).contiguous();
    return out;
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInternal, "reading " + where + ": " + e.what());
  }
}

}  // namespace lucent::io
