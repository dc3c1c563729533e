#include "CKallima.h"
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
// jpeglib.h needs FILE and size_t declared first.
#include <jerror.h>
#include <jpeglib.h>
#include <zlib.h>

// Decoders refuse images with more pixels than this (16384 x 16384): a corrupt or hostile header
// must not make a dataset loader allocate tens of gigabytes.
#define KALLIMA_MAX_PIXELS ((size_t)1 << 28)

// Deflate never compresses better than 1032:1 (a 258-byte match in two 1-bit codes), and a
// PNG row holds at least one filter byte and one bit per pixel: a header that declares more
// rows and columns than the file's size can hold is corrupt, and is refused before the
// decoder allocates for it.
#define KALLIMA_DEFLATE_MAX_RATIO 1032

// A baseline JPEG spends at least two bits on each 8x8 block (a DC and an end-of-block code),
// i.e. 256 pixels per byte of gray; progressive end-of-band runs and arithmetic coding can do
// better only on synthetic images. Four times that bound refuses a corrupt header (say a
// 60000x60000 frame in a 2 KB file) before libjpeg or this shim allocate for it.
#define KALLIMA_JPEG_MAX_PIXELS_PER_BYTE 1024

// libjpeg's own allocations (progressive coefficient buffers) stop here; 2^28 pixels of
// 4:2:0 coefficients need 768 MiB.
#define KALLIMA_JPEG_MAX_MEMORY ((long)1 << 30)

// Size in bytes of an open file, or -1.
static long long file_size(FILE *file) {
  struct stat st;
  if (fstat(fileno(file), &st) != 0) return -1;
  return (long long)st.st_size;
}

static void copy_message(char *dst, size_t cap, const char *src) {
  if (dst == NULL || cap == 0) return;
  strncpy(dst, src, cap - 1);
  dst[cap - 1] = '\0';
}

int kallima_png_write(const char *path, const uint8_t *pixels, uint32_t width, uint32_t height,
                      uint32_t channels, char *message, size_t message_capacity) {
  png_image image;
  memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = width;
  image.height = height;
  image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  if (!png_image_write_to_file(&image, path, 0, pixels, 0, NULL)) {
    copy_message(message, message_capacity, image.message);
    png_image_free(&image);
    return 1;
  }
  return 0;
}

int kallima_png_read_rgb(const char *path, uint8_t **pixels, uint32_t *width, uint32_t *height,
                         char *message, size_t message_capacity) {
  png_image image;
  memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  *pixels = NULL;
  FILE *file = fopen(path, "rb");
  if (file == NULL) {
    copy_message(message, message_capacity, strerror(errno));
    return 1;
  }
  long long size_on_disk = file_size(file);
  if (!png_image_begin_read_from_stdio(&image, file)) {
    copy_message(message, message_capacity, image.message);
    fclose(file);
    return 1;
  }
  if ((size_t)image.width * image.height > KALLIMA_MAX_PIXELS) {
    png_image_free(&image);
    fclose(file);
    snprintf(message, message_capacity, "image too large (%ux%u, more than 2^28 pixels)", image.width, image.height);
    return 1;
  }
  // At least one filter byte and one bit per pixel in each row, deflated at best 1032:1.
  unsigned long long least_raw = (unsigned long long)image.height * (1 + ((unsigned long long)image.width + 7) / 8);
  if (size_on_disk >= 0 && least_raw > (unsigned long long)size_on_disk * KALLIMA_DEFLATE_MAX_RATIO) {
    png_image_free(&image);
    fclose(file);
    snprintf(message, message_capacity,
             "the header declares %ux%u pixels, more than a %lld-byte PNG can hold (the file is corrupt or cut short)",
             image.width, image.height, size_on_disk);
    return 1;
  }
  image.format = PNG_FORMAT_RGB;
  // Without this flag libpng takes 16-bit samples without gAMA/sRGB chunks to be linear light
  // and gamma-encodes them on the way to 8 bits (32768 -> 188); dataset tools scale instead
  // (32768 -> 128), so say the samples are already sRGB-encoded.
  image.flags |= PNG_IMAGE_FLAG_16BIT_sRGB;
  size_t size = PNG_IMAGE_SIZE(image);
  uint8_t *buffer = malloc(size);
  if (buffer == NULL) {
    png_image_free(&image);
    fclose(file);
    copy_message(message, message_capacity, "out of memory decoding PNG");
    return 1;
  }
  // A black background replaces alpha, like most dataset loaders' RGB conversion.
  png_color background = {0, 0, 0};
  if (!png_image_finish_read(&image, &background, buffer, 0, NULL)) {
    copy_message(message, message_capacity, image.message);
    free(buffer);
    png_image_free(&image);
    fclose(file);
    return 1;
  }
  fclose(file);
  *pixels = buffer;
  *width = image.width;
  *height = image.height;
  return 0;
}

// MARK: JPEG (libjpeg-turbo)

// libjpeg's default error_exit calls exit(); this manager longjmps back to the setjmp in the
// calling shim function instead, after formatting the library's message.
struct jpeg_error_context {
  struct jpeg_error_mgr manager;
  jmp_buf jump;
  char text[JMSG_LENGTH_MAX];
};

static void jpeg_error_exit(j_common_ptr cinfo) {
  struct jpeg_error_context *context = (struct jpeg_error_context *)cinfo->err;
  (*cinfo->err->format_message)(cinfo, context->text);
  longjmp(context->jump, 1);
}

static void jpeg_emit_message(j_common_ptr cinfo, int level) {
  // level -1 is a warning about corrupt data. A truncated file is only a warning to libjpeg
  // (it pads the rest with gray); for training data that is a corrupt image, so fail.
  if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_error_exit(cinfo);
  if (level == -1) cinfo->err->num_warnings++;
}

static void jpeg_install_errors(struct jpeg_error_context *context) {
  jpeg_std_error(&context->manager);
  context->manager.error_exit = jpeg_error_exit;
  context->manager.emit_message = jpeg_emit_message;
  context->text[0] = '\0';
}

int kallima_jpeg_read_rgb(const char *path, uint8_t **pixels, uint32_t *width, uint32_t *height,
                          char *message, size_t message_capacity) {
  *pixels = NULL;
  FILE *file = fopen(path, "rb");
  if (file == NULL) {
    copy_message(message, message_capacity, strerror(errno));
    return 1;
  }
  struct jpeg_decompress_struct cinfo;
  struct jpeg_error_context errors;
  // Written after setjmp and read after longjmp, so volatile.
  uint8_t *volatile buffer = NULL;
  uint8_t *volatile row = NULL;
  cinfo.err = &errors.manager;
  jpeg_install_errors(&errors);
  if (setjmp(errors.jump)) {
    copy_message(message, message_capacity, errors.text);
    jpeg_destroy_decompress(&cinfo);
    free(buffer);
    free(row);
    fclose(file);
    return 1;
  }
  jpeg_create_decompress(&cinfo);
  cinfo.mem->max_memory_to_use = KALLIMA_JPEG_MAX_MEMORY;
  jpeg_stdio_src(&cinfo, file);
  jpeg_read_header(&cinfo, TRUE);
  // The frame's size is checked before jpeg_start_decompress, which allocates for it (all of
  // a progressive image's coefficients).
  if ((size_t)cinfo.image_width * cinfo.image_height > KALLIMA_MAX_PIXELS) {
    snprintf(errors.text, sizeof errors.text, "image too large (%ux%u, more than 2^28 pixels)",
             cinfo.image_width, cinfo.image_height);
    longjmp(errors.jump, 1);
  }
  long long size_on_disk = file_size(file);
  if (size_on_disk >= 0 &&
      (unsigned long long)cinfo.image_width * cinfo.image_height >
          (unsigned long long)size_on_disk * KALLIMA_JPEG_MAX_PIXELS_PER_BYTE) {
    snprintf(errors.text, sizeof errors.text,
             "the header declares %ux%u pixels, more than a %lld-byte JPEG can hold (the file is corrupt or cut short)",
             cinfo.image_width, cinfo.image_height, size_on_disk);
    longjmp(errors.jump, 1);
  }
  int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  // libjpeg converts YCbCr and grayscale to RGB itself; CMYK/YCCK only as far as CMYK.
  cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  uint32_t w = cinfo.output_width, h = cinfo.output_height;
  int components = cinfo.output_components;
  if ((!cmyk && components != 3) || (cmyk && components != 4)) {
    snprintf(errors.text, sizeof errors.text, "unexpected %d output components", components);
    longjmp(errors.jump, 1);
  }
  // The output grows with the rows decoded (doubling), so a file that ends early fails
  // before the whole image is allocated.
  size_t row_bytes = (size_t)w * 3, rows_allocated = h < 16 ? h : 16;
  buffer = malloc(row_bytes * rows_allocated);
  row = malloc((size_t)w * (size_t)components);
  if (buffer == NULL || row == NULL) {
    snprintf(errors.text, sizeof errors.text, "out of memory for a %ux%u JPEG", w, h);
    longjmp(errors.jump, 1);
  }
  // Photoshop (which writes the Adobe marker) stores CMYK inverted: 255 means no ink.
  int inverted = cinfo.saw_Adobe_marker;
  while (cinfo.output_scanline < h) {
    if (cinfo.output_scanline == rows_allocated) {
      size_t more = rows_allocated * 2 < h ? rows_allocated * 2 : h;
      uint8_t *grown = realloc(buffer, row_bytes * more);
      if (grown == NULL) {
        snprintf(errors.text, sizeof errors.text, "out of memory for a %ux%u JPEG", w, h);
        longjmp(errors.jump, 1);
      }
      buffer = grown;
      rows_allocated = more;
    }
    uint8_t *out = buffer + (size_t)cinfo.output_scanline * row_bytes;
    JSAMPROW target = cmyk ? row : out;
    jpeg_read_scanlines(&cinfo, &target, 1);
    if (!cmyk) continue;
    for (uint32_t x = 0; x < w; x++) {
      const uint8_t *p = row + (size_t)x * 4;
      unsigned k = inverted ? p[3] : 255u - p[3];
      for (int c = 0; c < 3; c++) {
        unsigned ink = inverted ? p[c] : 255u - p[c];
        out[x * 3 + c] = (uint8_t)((ink * k + 127) / 255);
      }
    }
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  free(row);
  fclose(file);
  *pixels = buffer;
  *width = w;
  *height = h;
  return 0;
}

int kallima_jpeg_write(const char *path, const uint8_t *pixels, uint32_t width, uint32_t height,
                       uint32_t components, int quality, char *message, size_t message_capacity) {
  if (components != 1 && components != 3 && components != 4) {
    copy_message(message, message_capacity, "components must be 1, 3 or 4");
    return 1;
  }
  FILE *file = fopen(path, "wb");
  if (file == NULL) {
    copy_message(message, message_capacity, strerror(errno));
    return 1;
  }
  struct jpeg_compress_struct cinfo;
  struct jpeg_error_context errors;
  cinfo.err = &errors.manager;
  jpeg_install_errors(&errors);
  if (setjmp(errors.jump)) {
    copy_message(message, message_capacity, errors.text);
    jpeg_destroy_compress(&cinfo);
    fclose(file);
    return 1;
  }
  jpeg_create_compress(&cinfo);
  jpeg_stdio_dest(&cinfo, file);
  cinfo.image_width = width;
  cinfo.image_height = height;
  cinfo.input_components = (int)components;
  cinfo.in_color_space = components == 1 ? JCS_GRAYSCALE : components == 3 ? JCS_RGB : JCS_CMYK;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < height) {
    JSAMPROW row = (JSAMPROW)(pixels + (size_t)cinfo.next_scanline * width * components);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  if (fclose(file) != 0) {
    copy_message(message, message_capacity, strerror(errno));
    return 1;
  }
  return 0;
}

int kallima_jpeg_write_rgb(const char *path, const uint8_t *pixels, uint32_t width, uint32_t height,
                           int quality, char *message, size_t message_capacity) {
  return kallima_jpeg_write(path, pixels, width, height, 3, quality, message, message_capacity);
}

// MARK: gzip (zlib)

static void gz_message(gzFile file, const char *path, const char *fallback, char *message, size_t cap) {
  int code = Z_OK;
  const char *text = file != NULL ? gzerror(file, &code) : NULL;
  if (code == Z_ERRNO) text = strerror(errno);
  else if (code == Z_BUF_ERROR) text = "truncated gzip stream (unexpected end of file)";
  // zlib prefixes its messages with "<path>: "; the caller names the file already.
  size_t length = strlen(path);
  if (text != NULL && strncmp(text, path, length) == 0 && strncmp(text + length, ": ", 2) == 0) text += length + 2;
  copy_message(message, cap, (text != NULL && text[0] != '\0') ? text : fallback);
}

int kallima_gz_read_all(const char *path, uint8_t **bytes, size_t *length, char *message,
                        size_t message_capacity) {
  *bytes = NULL;
  *length = 0;
  errno = 0;
  gzFile file = gzopen(path, "rb");
  if (file == NULL) {
    copy_message(message, message_capacity, errno != 0 ? strerror(errno) : "gzopen failed");
    return 1;
  }
  // zlib then holds 32 KiB of input and 64 KiB of output: 128 KiB buffers read Fashion-MNIST's
  // 47 MB train-images no faster (best of 5, five pairs on a loaded 2-core machine: 0.53-0.79 s
  // against 0.64-0.74 s), and each input of the fuzzer would pay for them.
  gzbuffer(file, 1 << 15);
  // Grows by doubling as data arrives: memory follows what the file inflates to.
  size_t capacity = 1 << 16, used = 0;
  uint8_t *buffer = malloc(capacity);
  for (;;) {
    if (buffer == NULL) {
      gzclose_r(file);
      copy_message(message, message_capacity, "out of memory reading file");
      return 1;
    }
    if (used == capacity) {
      capacity *= 2;
      uint8_t *grown = realloc(buffer, capacity);
      if (grown == NULL) free(buffer);
      buffer = grown;
      continue;
    }
    size_t want = capacity - used;
    if (want > (1u << 30)) want = 1u << 30;  // gzread takes an unsigned count
    int got = gzread(file, buffer + used, (unsigned)want);
    if (got < 0) {
      gz_message(file, path, "gzread failed", message, message_capacity);
      free(buffer);
      gzclose_r(file);
      return 1;
    }
    if (got == 0) break;
    used += (size_t)got;
  }
  int code = Z_OK;
  gzerror(file, &code);
  if (code != Z_OK) {
    gz_message(file, path, "gzread failed", message, message_capacity);
    free(buffer);
    gzclose_r(file);
    return 1;
  }
  int closed = gzclose_r(file);
  if (closed != Z_OK) {
    copy_message(message, message_capacity,
                 closed == Z_BUF_ERROR ? "truncated gzip stream (unexpected end of file)"
                                       : "closing the file failed");
    free(buffer);
    return 1;
  }
  *bytes = buffer;
  *length = used;
  return 0;
}

int kallima_gz_write_all(const char *path, const uint8_t *bytes, size_t length, char *message,
                         size_t message_capacity) {
  errno = 0;
  gzFile file = gzopen(path, "wb");
  if (file == NULL) {
    copy_message(message, message_capacity, errno != 0 ? strerror(errno) : "gzopen failed");
    return 1;
  }
  size_t done = 0;
  while (done < length) {
    size_t chunk = length - done;
    if (chunk > (1u << 30)) chunk = 1u << 30;
    int wrote = gzwrite(file, bytes + done, (unsigned)chunk);
    if (wrote <= 0) {
      gz_message(file, path, "gzwrite failed", message, message_capacity);
      gzclose_w(file);
      return 1;
    }
    done += (size_t)wrote;
  }
  if (gzclose_w(file) != Z_OK) {
    copy_message(message, message_capacity, errno != 0 ? strerror(errno) : "gzclose failed");
    return 1;
  }
  return 0;
}

void kallima_free(void *pointer) { free(pointer); }

int kallima_fork_without_handlers(void) {
#ifdef SYS_fork
  return (int)syscall(SYS_fork);
#else
  return (int)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
#endif
}

// MARK: raw deflate (zip members)

int kallima_inflate_raw(const uint8_t *input, size_t input_length, uint8_t *output, size_t output_capacity,
                        size_t *produced, char *message, size_t message_capacity) {
  *produced = 0;
  z_stream stream;
  memset(&stream, 0, sizeof stream);
  if (inflateInit2(&stream, -MAX_WBITS) != Z_OK) {
    copy_message(message, message_capacity, "zlib could not start inflating");
    return 1;
  }
  // zlib counts in unsigned int: input and output are handed over in slices of at most 1 GiB.
  // Without progress (input used up, or output full, before the stream's end) inflate
  // returns Z_BUF_ERROR, which ends the loop like any other status but Z_OK.
  const size_t slice = (size_t)1 << 30;
  size_t fed = 0, offered = 0;
  uint8_t none;  // zlib refuses a null next_out even when nothing is to be written
  stream.next_out = &none;
  int status;
  do {
    if (stream.avail_in == 0 && fed < input_length) {
      size_t now = input_length - fed < slice ? input_length - fed : slice;
      stream.next_in = (Bytef *)(input + fed);
      stream.avail_in = (uInt)now;
      fed += now;
    }
    if (stream.avail_out == 0 && offered < output_capacity) {
      size_t now = output_capacity - offered < slice ? output_capacity - offered : slice;
      stream.next_out = output + offered;
      stream.avail_out = (uInt)now;
      offered += now;
    }
    status = inflate(&stream, Z_NO_FLUSH);
  } while (status == Z_OK);
  *produced = stream.total_out;
  const char *text = stream.msg;
  inflateEnd(&stream);
  if (status == Z_STREAM_END) return 0;
  if (status == Z_DATA_ERROR || status == Z_NEED_DICT) {
    copy_message(message, message_capacity, text != NULL ? text : "corrupt deflate data");
  } else if (*produced == output_capacity) {
    copy_message(message, message_capacity, "the deflate stream holds more data than the archive declares");
  } else {
    copy_message(message, message_capacity, "the deflate stream ends early (the member is cut short)");
  }
  return 1;
}

uint32_t kallima_crc32(const uint8_t *bytes, size_t length) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (length > 0) {
    uInt now = length > ((size_t)1 << 30) ? (uInt)1 << 30 : (uInt)length;
    crc = crc32(crc, bytes, now);
    bytes += now;
    length -= now;
  }
  return (uint32_t)crc;
}

