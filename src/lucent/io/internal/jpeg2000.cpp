#include "lucent/io/internal/jpeg2000.h"

// ITK ships its own (mangled) openjpeg.h on the include path; name the system OpenJPEG 2.5 explicitly.
#include <openjpeg-2.5/openjpeg.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace lucent::io::internal {
namespace {

struct MemoryStream {
  const uint8_t* data;
  std::size_t size;
  std::size_t pos;
};

OPJ_SIZE_T stream_read(void* buffer, OPJ_SIZE_T n, void* user) {
  auto* s = static_cast<MemoryStream*>(user);
  if (s->pos >= s->size) return static_cast<OPJ_SIZE_T>(-1);
  const std::size_t k = std::min<std::size_t>(n, s->size - s->pos);
  std::memcpy(buffer, s->data + s->pos, k);
  s->pos += k;
  return k;
}

OPJ_OFF_T stream_skip(OPJ_OFF_T n, void* user) {
  auto* s = static_cast<MemoryStream*>(user);
  if (n < 0) {
    const auto back = static_cast<std::size_t>(-n);
    if (back > s->pos) return -1;
    s->pos -= back;
    return n;
  }
  const std::size_t k = std::min<std::size_t>(static_cast<std::size_t>(n), s->size - std::min(s->pos, s->size));
  s->pos += k;
  return static_cast<OPJ_OFF_T>(k);
}

OPJ_BOOL stream_seek(OPJ_OFF_T n, void* user) {
  auto* s = static_cast<MemoryStream*>(user);
  if (n < 0 || static_cast<std::size_t>(n) > s->size) return OPJ_FALSE;
  s->pos = static_cast<std::size_t>(n);
  return OPJ_TRUE;
}

void collect_message(const char* msg, void* user) {
  auto* out = static_cast<std::string*>(user);
  if (out->size() < 1000 && msg) {
    if (!out->empty()) *out += "; ";
    std::string m(msg);
    while (!m.empty() && (m.back() == '\n' || m.back() == '\r')) m.pop_back();
    *out += m;
  }
}
void ignore_message(const char*, void*) {}

struct CodecDeleter {
  void operator()(opj_codec_t* c) const { opj_destroy_codec(c); }
};
struct StreamDeleter {
  void operator()(opj_stream_t* s) const { opj_stream_destroy(s); }
};
struct ImageDeleter {
  void operator()(opj_image_t* i) const { opj_image_destroy(i); }
};

}  // namespace

Result<J2kFrame> decode_j2k(const uint8_t* data, std::size_t size, int expected_rows, int expected_cols,
                            int expected_components, const std::string& what) {
  static constexpr uint8_t kJ2kMagic[4] = {0xFF, 0x4F, 0xFF, 0x51};
  static constexpr uint8_t kJp2Magic[12] = {0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A};
  OPJ_CODEC_FORMAT format;
  if (size >= 4 && std::memcmp(data, kJ2kMagic, 4) == 0) {
    format = OPJ_CODEC_J2K;
  } else if (size >= 12 && std::memcmp(data, kJp2Magic, 12) == 0) {
    format = OPJ_CODEC_JP2;
  } else {
    return fail(ErrorCode::kInvalidData,
                what + ": JPEG 2000 frame starts with neither a J2K codestream (FF 4F FF 51) nor a JP2 "
                       "signature box; the encapsulated pixel data is corrupt or not JPEG 2000");
  }
  std::unique_ptr<opj_codec_t, CodecDeleter> codec(opj_create_decompress(format));
  if (!codec) return fail(ErrorCode::kInternal, what + ": OpenJPEG could not create a decoder");
  std::string errors;
  opj_set_error_handler(codec.get(), collect_message, &errors);
  opj_set_warning_handler(codec.get(), ignore_message, nullptr);
  opj_set_info_handler(codec.get(), ignore_message, nullptr);
  opj_dparameters_t params;
  opj_set_default_decoder_parameters(&params);
  if (!opj_setup_decoder(codec.get(), &params))
    return fail(ErrorCode::kInternal, what + ": OpenJPEG decoder setup failed: " + errors);

  MemoryStream ms{data, size, 0};
  std::unique_ptr<opj_stream_t, StreamDeleter> stream(opj_stream_create(1 << 16, OPJ_TRUE));
  if (!stream) return fail(ErrorCode::kInternal, what + ": OpenJPEG could not create a stream");
  opj_stream_set_user_data(stream.get(), &ms, nullptr);
  opj_stream_set_user_data_length(stream.get(), size);
  opj_stream_set_read_function(stream.get(), stream_read);
  opj_stream_set_skip_function(stream.get(), stream_skip);
  opj_stream_set_seek_function(stream.get(), stream_seek);

  opj_image_t* raw_image = nullptr;
  if (!opj_read_header(stream.get(), codec.get(), &raw_image)) {
    if (raw_image) opj_image_destroy(raw_image);
    return fail(ErrorCode::kInvalidData, what + ": JPEG 2000 header could not be read (" +
                                             (errors.empty() ? std::string("no detail") : errors) +
                                             "); the frame is corrupt or truncated");
  }
  std::unique_ptr<opj_image_t, ImageDeleter> image(raw_image);
  const long long w = static_cast<long long>(image->x1) - image->x0;
  const long long h = static_cast<long long>(image->y1) - image->y0;
  if (w != expected_cols || h != expected_rows || static_cast<int>(image->numcomps) != expected_components) {
    return fail(ErrorCode::kInvalidData,
                what + ": JPEG 2000 codestream is " + std::to_string(w) + "x" + std::to_string(h) + " with " +
                    std::to_string(image->numcomps) + " component(s), but (0028,0011) Columns x (0028,0010) Rows = " +
                    std::to_string(expected_cols) + "x" + std::to_string(expected_rows) + " with " +
                    std::to_string(expected_components) +
                    " sample(s) per pixel; the header and the pixel data disagree");
  }
  for (OPJ_UINT32 c = 0; c < image->numcomps; ++c) {
    if (image->comps[c].dx != 1 || image->comps[c].dy != 1)
      return fail(ErrorCode::kUnsupported, what + ": JPEG 2000 component " + std::to_string(c) +
                                               " is subsampled; subsampled JPEG 2000 components are not supported");
  }
  if (!opj_decode(codec.get(), stream.get(), image.get()) || !opj_end_decompress(codec.get(), stream.get())) {
    return fail(ErrorCode::kInvalidData, what + ": JPEG 2000 decoding failed (" +
                                             (errors.empty() ? std::string("no detail") : errors) +
                                             "); the frame is corrupt or truncated");
  }
  J2kFrame out;
  out.width = static_cast<int>(w);
  out.height = static_cast<int>(h);
  out.components = static_cast<int>(image->numcomps);
  out.precision = static_cast<int>(image->comps[0].prec);
  out.is_signed = image->comps[0].sgnd != 0;
  const std::size_t plane = static_cast<std::size_t>(w) * static_cast<std::size_t>(h);
  out.samples.resize(plane * out.components);
  for (int c = 0; c < out.components; ++c) {
    const opj_image_comp_t& comp = image->comps[c];
    if (!comp.data || comp.w != static_cast<OPJ_UINT32>(w) || comp.h != static_cast<OPJ_UINT32>(h))
      return fail(ErrorCode::kInvalidData, what + ": JPEG 2000 component " + std::to_string(c) +
                                               " has no decoded data or a size other than the image");
    std::memcpy(out.samples.data() + c * plane, comp.data, plane * sizeof(int32_t));
  }
  return out;
}

}  // namespace lucent::io::internal
