// The Qwen3 architecture's hyperparameters (HF config.json names), without torch.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace rslicer::model {

struct Qwen3Config {
  std::int64_t vocab_size = 151669;
  std::int64_t hidden_size = 128;
  std::int64_t num_hidden_layers = 2;
  std::int64_t num_attention_heads = 4;
  std::int64_t num_key_value_heads = 2;
  std::int64_t head_dim = 32;
  std::int64_t intermediate_size = 384;
  double rope_theta = 1e6;
  double rms_norm_eps = 1e-6;
  std::int64_t max_position_embeddings = 32768;

  // Reads a HF config.json; throws Error naming the file and the key.
  static Qwen3Config from_json_file(const std::filesystem::path& path);
  std::string to_json() const;
  // Checks the shapes are consistent (heads divide, sizes positive); throws ConfigError.
  void validate() const;

  std::int64_t parameters_per_layer() const;
  // Embedding + layers + final norm (no LM head, as Qwen3-Embedding): 595,776,512 for Qwen3-Embedding-0.6B.
  std::int64_t parameter_count() const;
};

}  // namespace rslicer::model
