// Qwen3 in LibTorch, as HF transformers' modeling_qwen3.py (GUIDE §4). Parameter names match HF
// ("layers.0.self_attn.q_proj.weight", ...). Shapes: B batch, S sequence, H heads, Hkv key/value heads, D head_dim.
#pragma once

#include <torch/torch.h>

#include "model/qwen3_config.h"

namespace rslicer::model {

// x * rsqrt(mean(x^2) + eps) computed in fp32, cast back, times weight.
struct RMSNormImpl : torch::nn::Module {
  RMSNormImpl(std::int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;
  double eps;
};
TORCH_MODULE(RMSNorm);

// cos/sin tables [S, D] for positions 0..S-1 (rotate-half layout: pairs i and i + D/2).
std::pair<torch::Tensor, torch::Tensor> rope_tables(std::int64_t seq, std::int64_t head_dim, double theta,
                                                     torch::Device device);
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);  // x [B,H,S,D]
// Additive mask [B, 1, S, S]: 0 where a query may attend (causal and the key is a real token), else the dtype's min.
torch::Tensor attention_mask(const torch::Tensor& padding_mask, torch::Dtype dtype);

struct Qwen3AttentionImpl : torch::nn::Module {
  explicit Qwen3AttentionImpl(const Qwen3Config& c);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask);
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  RMSNorm q_norm{nullptr}, k_norm{nullptr};
  std::int64_t heads, kv_heads, head_dim;
};
TORCH_MODULE(Qwen3Attention);

struct Qwen3MLPImpl : torch::nn::Module {
  explicit Qwen3MLPImpl(const Qwen3Config& c);
  torch::Tensor forward(const torch::Tensor& x);  // down(silu(gate(x)) * up(x))
  torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(Qwen3MLP);

struct Qwen3DecoderLayerImpl : torch::nn::Module {
  explicit Qwen3DecoderLayerImpl(const Qwen3Config& c);
  torch::Tensor forward(const torch::Tensor& h, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask);
  Qwen3Attention self_attn{nullptr};
  Qwen3MLP mlp{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(Qwen3DecoderLayer);

struct Qwen3ModelImpl : torch::nn::Module {
  explicit Qwen3ModelImpl(const Qwen3Config& c);
  // Final-norm hidden states [B, S, hidden] of left-padded ids [B, S] with mask [B, S] (1 real, 0 pad).
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& padding_mask);
  // Embeddings [B, d] (GUIDE §4): the last token's hidden state, L2-normalised; mrl_dim > 0 keeps the first
  // mrl_dim dimensions and normalises again.
  torch::Tensor embed(const torch::Tensor& input_ids, const torch::Tensor& padding_mask, std::int64_t mrl_dim = 0);
  // HF-style initialisation: normal(0, 0.02) for linear and embedding weights, ones for norms.
  void reset_parameters(std::uint64_t seed);
  // No gradients for the token embedding (when asked) and the first `layers` decoder layers.
  void freeze(std::int64_t layers, bool embeddings);

  // Activation checkpointing: in training, each decoder layer keeps only its input and recomputes its forward
  // during backward (as torch.utils.checkpoint, reentrant), trading about one more forward for the activations.
  bool activation_checkpointing = false;

  Qwen3Config config;
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
};
TORCH_MODULE(Qwen3Model);

}  // namespace rslicer::model
