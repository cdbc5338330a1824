// Loads a NemotronH checkpoint onto the device a user names: "cpu", "cuda", "cuda:N" or "auto"
// (the first CUDA GPU when this build has CUDA and the machine has a GPU, else the CPU), or,
// with EngineOptions::tensor_parallel > 1, sharded over that many GPUs from the one named.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/language_model.h"
#include "engine/nemotronh.h"

namespace nagent::engine {

struct DeviceChoice {
  bool cuda = false;
  int ordinal = 0;
};

// Throws std::invalid_argument for a malformed name, and for a CUDA device when this build has
// no CUDA or the machine no such GPU (the message says which).
DeviceChoice resolve_device(const std::string& name);

// True when this nagent was built with the CUDA engine.
bool built_with_cuda();

// The GPUs a model sharded over `world` of them runs on: d.ordinal .. d.ordinal + world - 1 of
// the machine's `cuda_devices`. Throws std::invalid_argument when world > 1 and d is not a CUDA
// device, or the machine lacks those GPUs (the message says how many it has).
std::vector<int> tensor_parallel_devices(const DeviceChoice& d, int world, int cuda_devices);

std::unique_ptr<LanguageModel> load_language_model(const std::string& dir, const std::string& device,
                                                   const EngineOptions& options = {});

}  // namespace nagent::engine
