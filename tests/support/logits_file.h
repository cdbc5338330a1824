// Test helper: compares a float32 logits file written by `nagent logits` with reference values.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <vector>

// ‖file − expect‖ / ‖expect‖ over n floats; +inf if the file does not hold exactly n floats.
inline double logits_relative_error(const std::filesystem::path& file, const float* expect, int64_t n) {
  std::error_code ec;
  if (std::filesystem::file_size(file, ec) != static_cast<uintmax_t>(n) * 4 || ec) return INFINITY;
  std::vector<float> got(static_cast<size_t>(n));
  std::ifstream(file, std::ios::binary).read(reinterpret_cast<char*>(got.data()), static_cast<std::streamsize>(n * 4));
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    num += (double(got[i]) - expect[i]) * (double(got[i]) - expect[i]);
    den += double(expect[i]) * expect[i];
  }
  return std::sqrt(num / den);
}
