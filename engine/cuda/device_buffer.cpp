#include "engine/cuda/device_buffer.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <vector>

#include "engine/cuda/cuda_check.h"

namespace nagent::engine::cuda {

int64_t MemoryLedger::total() const {
  int64_t t = 0;
  for (const auto& [name, b] : bytes_) t += b;
  return t;
}

std::string MemoryLedger::report() const {
  std::vector<std::pair<int64_t, std::string>> rows;
  for (const auto& [name, b] : bytes_) rows.emplace_back(b, name);
  std::sort(rows.rbegin(), rows.rend());
  std::string out;
  char line[128];
  for (const auto& [b, name] : rows) {
    std::snprintf(line, sizeof(line), "  %-22s %10.3f GiB\n", name.c_str(), static_cast<double>(b) / (1 << 30));
    out += line;
  }
  std::snprintf(line, sizeof(line), "  %-22s %10.3f GiB\n", "total", static_cast<double>(total()) / (1 << 30));
  return out + line;
}

DeviceBuffer::DeviceBuffer(size_t bytes, MemoryLedger* ledger, const std::string& component)
    : bytes_(bytes), ledger_(ledger), component_(component) {
  if (bytes == 0) return;
  const cudaError_t e = cudaMalloc(&ptr_, bytes);
  if (e != cudaSuccess) {
    size_t free_b = 0, total_b = 0;
    cudaGetLastError();
    cudaMemGetInfo(&free_b, &total_b);
    throw std::runtime_error("out of GPU memory: " + component + " needs " + std::to_string(bytes >> 20) + " MiB, " +
                             std::to_string(free_b >> 20) + " MiB free of " + std::to_string(total_b >> 20) + " MiB");
  }
  if (ledger_) ledger_->add(component_, static_cast<int64_t>(bytes));
}

DeviceBuffer::~DeviceBuffer() { release(); }

DeviceBuffer::DeviceBuffer(DeviceBuffer&& o) noexcept { *this = std::move(o); }

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    release();
    ptr_ = o.ptr_;
    bytes_ = o.bytes_;
    ledger_ = o.ledger_;
    component_ = std::move(o.component_);
    o.ptr_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

void DeviceBuffer::release() {
  if (!ptr_) return;
  cudaFree(ptr_);
  if (ledger_) ledger_->add(component_, -static_cast<int64_t>(bytes_));
  ptr_ = nullptr;
  bytes_ = 0;
}

namespace {
std::atomic<uint64_t> scratch_growths{0};
}

uint64_t Scratch::growths() { return scratch_growths.load(); }

void Scratch::ensure(size_t bytes) {
  if (bytes <= buf_.bytes()) return;
  ++scratch_growths;
  // Growth frees the old buffer, which kernels queued earlier may still read.
  NAGENT_CUDA_CHECK(cudaDeviceSynchronize());
  const size_t grown = std::max(bytes, buf_.bytes() * 3 / 2);  // headroom: fewer growths and re-captures
  buf_ = DeviceBuffer();
  buf_ = DeviceBuffer(grown, ledger_, component_);
}

}  // namespace nagent::engine::cuda
