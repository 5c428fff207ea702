// Releases and HF imports. A release directory holds model.safetensors (HF key names "model.layers.0...." plus
// "fusion.*", fp32), config.json (the Qwen3 config plus an "rslicer" section: fusion, MRL, training summary), the
// tokenizer files when available, and README.md (the model card). HF import loads a Qwen3(-Embedding) directory's
// weights into the backbone, with or without a "model." key prefix, reporting every missing or unexpected key.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "model/runtime_slicer.h"

namespace rslicer::model {

struct ReleaseInfo {
  Qwen3Config backbone;
  FusionConfig fusion;
  std::int64_t mrl_dim = 0;
  std::string summary_json = "{}";  // training config, data, steps, final losses, evaluation results
  std::string model_card;           // README.md text
  std::filesystem::path tokenizer_dir;  // copied when it exists
};

void write_release(const std::filesystem::path& dir, RuntimeSlicer& model, const ReleaseInfo& info);

// What the model card (README.md) says about the run behind the weights; `rslicer pretrain`'s final release and
// `rslicer export` fill it.
struct TrainingRecord {
  std::string model_name;
  std::string origin;        // e.g. "Pre-trained with `rslicer pretrain`", "Exported by `rslicer export` from `<dir>`"
  std::int64_t steps = 0;
  int world_size = 1;
  std::int64_t global_batch = 0;
  std::vector<std::string> stores;
  std::string losses;        // e.g. "2.9583 -> 2.4107"
  std::string evaluation;    // a markdown paragraph, or empty
  std::string training_config_yaml;  // empty: no section
};
std::string model_card(const TrainingRecord& record, const ReleaseInfo& info);
// Reads config.json and model.safetensors; strict: every key must match.
RuntimeSlicer load_release(const std::filesystem::path& dir, ReleaseInfo* info = nullptr);

struct LoadReport {
  std::vector<std::string> loaded, missing, unexpected;
  std::string summary() const;
};

// Copies tensors whose names match `module`'s parameters (after stripping `strip_prefix` from file keys and
// `module_prefix` from parameter names); converts BF16/F16 to the parameter's dtype. Shapes must agree.
LoadReport load_weights(torch::nn::Module& module, const std::filesystem::path& dir_or_file,
                        const std::string& module_prefix = "");
// A HF Qwen3 / Qwen3-Embedding directory into the backbone (keys with or without "model.").
LoadReport load_hf_backbone(Qwen3Model& backbone, const std::filesystem::path& dir);

}  // namespace rslicer::model
