#include "model/qwen3_config.h"

#include <nlohmann/json.hpp>

#include <fstream>

#include "core/error.h"

namespace rslicer::model {

Qwen3Config Qwen3Config::from_json_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read model config", path.string(), "a HF config.json");
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Error("model config is not a JSON object", path.string(), "a HF config.json");
  Qwen3Config c;
  auto get_int = [&](const char* key, std::int64_t& out) {
    if (!j.contains(key) || !j[key].is_number_integer())
      throw Error("missing or non-integer '" + std::string(key) + "'", path.string(), "Qwen3 config.json keys");
    out = j[key].get<std::int64_t>();
  };
  get_int("vocab_size", c.vocab_size);
  get_int("hidden_size", c.hidden_size);
  get_int("num_hidden_layers", c.num_hidden_layers);
  get_int("num_attention_heads", c.num_attention_heads);
  get_int("num_key_value_heads", c.num_key_value_heads);
  get_int("intermediate_size", c.intermediate_size);
  c.head_dim = j.value("head_dim", c.hidden_size / c.num_attention_heads);
  // transformers < 5 writes rope_theta at the top level; 5.x nests it in rope_parameters (with rope_type).
  if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) {
    const auto& rope = j["rope_parameters"];
    const std::string type = rope.value("rope_type", std::string("default"));
    if (type != "default")
      throw Error("rope_type '" + type + "' is not supported", path.string(), "rope_type 'default' (plain RoPE)");
    if (!rope.contains("rope_theta") || !rope["rope_theta"].is_number())
      throw Error("rope_parameters without a numeric rope_theta", path.string(), "rope_parameters.rope_theta");
    c.rope_theta = rope["rope_theta"].get<double>();
  } else {
    c.rope_theta = j.value("rope_theta", 1e6);
  }
  c.rms_norm_eps = j.value("rms_norm_eps", 1e-6);
  c.max_position_embeddings = j.value("max_position_embeddings", std::int64_t{32768});
  if (j.contains("use_sliding_window") && j["use_sliding_window"].is_boolean() && j["use_sliding_window"].get<bool>())
    throw Error("use_sliding_window is true", path.string(), "full attention in every layer (use_sliding_window: false)");
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null())
    throw Error("rope_scaling is set", path.string(), "plain RoPE (rope_scaling: null)");
  if (j.value("attention_bias", false))
    throw Error("attention_bias is true", path.string(), "Qwen3 without biases (attention_bias: false)");
  c.validate();
  return c;
}

std::string Qwen3Config::to_json() const {
  nlohmann::json j = {{"architectures", {"Qwen3Model"}},
                      {"model_type", "qwen3"},
                      {"vocab_size", vocab_size},
                      {"hidden_size", hidden_size},
                      {"num_hidden_layers", num_hidden_layers},
                      {"num_attention_heads", num_attention_heads},
                      {"num_key_value_heads", num_key_value_heads},
                      {"head_dim", head_dim},
                      {"intermediate_size", intermediate_size},
                      {"rope_theta", rope_theta},
                      {"rms_norm_eps", rms_norm_eps},
                      {"max_position_embeddings", max_position_embeddings},
                      {"attention_bias", false},
                      {"hidden_act", "silu"},
                      {"tie_word_embeddings", true},
                      {"torch_dtype", "float32"}};
  return j.dump(2);
}

void Qwen3Config::validate() const {
  if (vocab_size <= 0 || hidden_size <= 0 || num_hidden_layers <= 0 || num_attention_heads <= 0 ||
      num_key_value_heads <= 0 || head_dim <= 0 || intermediate_size <= 0)
    throw ConfigError("model sizes must be positive", "model", "positive vocab, hidden, layers, heads, head_dim");
  if (num_attention_heads % num_key_value_heads != 0)
    throw ConfigError("num_attention_heads " + std::to_string(num_attention_heads) +
                          " is not a multiple of num_key_value_heads " + std::to_string(num_key_value_heads),
                      "model", "grouped-query attention with H % H_kv == 0");
  if (head_dim % 2 != 0) throw ConfigError("head_dim must be even", "model.head_dim", "an even size (RoPE pairs)");
}

std::int64_t Qwen3Config::parameters_per_layer() const {
  const std::int64_t h = hidden_size, d = head_dim;
  const std::int64_t attention = h * num_attention_heads * d      // q_proj
                                 + 2 * h * num_key_value_heads * d  // k_proj, v_proj
                                 + num_attention_heads * d * h      // o_proj
                                 + 2 * d;                           // q_norm, k_norm
  const std::int64_t mlp = 3 * h * intermediate_size;
  return attention + mlp + 2 * h;  // input_layernorm, post_attention_layernorm
}

std::int64_t Qwen3Config::parameter_count() const {
  return vocab_size * hidden_size + num_hidden_layers * parameters_per_layer() + hidden_size;
}

}  // namespace rslicer::model
