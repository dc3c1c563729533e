#include "CKallima.h"
#include <stdlib.h>
#include <string.h>

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
  if (!png_image_begin_read_from_file(&image, path)) {
    copy_message(message, message_capacity, image.message);
    return 1;
  }
  image.format = PNG_FORMAT_RGB;
  size_t size = PNG_IMAGE_SIZE(image);
  uint8_t *buffer = malloc(size);
  if (buffer == NULL) {
    png_image_free(&image);
    copy_message(message, message_capacity, "out of memory decoding PNG");
    return 1;
  }
  // A black background replaces alpha, like most dataset loaders' RGB conversion.
  png_color background = {0, 0, 0};
  if (!png_image_finish_read(&image, &background, buffer, 0, NULL)) {
    copy_message(message, message_capacity, image.message);
    free(buffer);
    png_image_free(&image);
    return 1;
  }
  *pixels = buffer;
  *width = image.width;
  *height = image.height;
  return 0;
}

void kallima_free(void *pointer) { free(pointer); }
