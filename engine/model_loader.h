// Loads a NemotronH checkpoint onto the device a user names: "cpu", "cuda", "cuda:N" or "auto"
// (the first CUDA GPU when this build has CUDA and the machine has a GPU, else the CPU).
#pragma once

#include <memory>
#include <string>

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

std::unique_ptr<LanguageModel> load_language_model(const std::string& dir, const std::string& device,
                                                   const EngineOptions& options = {});

}  // namespace nagent::engine
