// Qwen3 in LibTorch, as HF transformers' modeling_qwen3.py (docs/design.md §4). Parameter names match HF
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
// cos/sin tables [P, 1, S, D] for int64 positions [P, S] (broadcast over heads).
std::pair<torch::Tensor, torch::Tensor> rope_tables(const torch::Tensor& positions, std::int64_t head_dim, double theta);
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);  // x [B,H,S,D]
// Additive mask [B, 1, S, S]: 0 where a query may attend (causal and the key is a real token), else the dtype's min.
torch::Tensor attention_mask(const torch::Tensor& padding_mask, torch::Dtype dtype);
// The same from a boolean "may attend" tensor.
torch::Tensor additive_mask(const torch::Tensor& allowed, torch::Dtype dtype);

// A batch of N sequences laid out for the backbone as R rows of C positions: either left padded (R = N, the HF
// layout) or packed (several sequences a row, block-diagonal attention, RoPE positions restarting per sequence).
struct TokenLayout {
  torch::Tensor ids;         // [R, C] int64
  torch::Tensor positions;   // [R or 1, C] int64 RoPE positions
  torch::Tensor allowed;     // [R, 1, C, C] bool: query may attend key
  torch::Tensor last_index;  // [R, Q] int64: positions whose outputs pooling reads (each sequence's last token)
  torch::Tensor pooled;      // [N] int64: for each input sequence, its row among the flattened [R * Q] outputs
  double padding_fraction = 0;  // positions computed that hold no token
  // Every row is one sequence without padding: attention is plain causal, so no mask tensor is built and the
  // fused path can use its causal kernel (flash attention on CUDA).
  bool causal_only = false;
};
// From left-padded ids/mask [N, S] (1 real, 0 pad).
TokenLayout left_padded_layout(const torch::Tensor& input_ids, const torch::Tensor& padding_mask);
TokenLayout packed_layout(const torch::Tensor& input_ids, const torch::Tensor& padding_mask);

struct Qwen3AttentionImpl : torch::nn::Module {
  explicit Qwen3AttentionImpl(const Qwen3Config& c);
  // Outputs [B, Q, hidden] at the positions `queries` [B, Q] (undefined: all S positions); keys and values always
  // cover every position. `mask` [B, 1, S, S] additive, or undefined for plain causal attention.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask, const torch::Tensor& queries = {});
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  RMSNorm q_norm{nullptr}, k_norm{nullptr};
  std::int64_t heads, kv_heads, head_dim;
  // Fused scaled_dot_product_attention (LibTorch >= 2.0) instead of the explicit softmax(QK^T/sqrt(D) + mask) V.
  bool fused = false;
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
  // Hidden states at the positions `queries` [B, Q] (undefined: all). Fewer queries compute the same values for
  // those positions: only their query projection, attention rows, residual and MLP are evaluated.
  torch::Tensor forward(const torch::Tensor& h, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask, const torch::Tensor& queries = {});
  Qwen3Attention self_attn{nullptr};
  Qwen3MLP mlp{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(Qwen3DecoderLayer);

struct Qwen3ModelImpl : torch::nn::Module {
  explicit Qwen3ModelImpl(const Qwen3Config& c);
  // Final-norm hidden states [B, S, hidden] of left-padded ids [B, S] with mask [B, S] (1 real, 0 pad).
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& padding_mask);
  // The final-norm hidden state of each sequence's last token, [B, hidden]: equal to forward(...).select(1, S - 1)
  // (the reference path, tested against it), computed with less work: the last decoder layer evaluates only the
  // pooled positions' queries, attention rows and MLP, since pooling reads nothing else (for the tiny 2-layer
  // config ~45% of the backbone's work, for the 28-layer 0.6B model ~3%); with pack_sequences, no padding.
  torch::Tensor last_hidden(const torch::Tensor& input_ids, const torch::Tensor& padding_mask);
  torch::Tensor last_hidden(const TokenLayout& layout);
  // Embeddings [B, d] (docs/design.md §4): the last token's hidden state, L2-normalised; mrl_dim > 0 keeps the first
  // mrl_dim dimensions and normalises again.
  torch::Tensor embed(const torch::Tensor& input_ids, const torch::Tensor& padding_mask, std::int64_t mrl_dim = 0);
  // HF-style initialisation: normal(0, 0.02) for linear and embedding weights, ones for norms.
  void reset_parameters(std::uint64_t seed);
  // No gradients for the token embedding (when asked) and the first `layers` decoder layers.
  void freeze(std::int64_t layers, bool embeddings);

  // Activation checkpointing: in training, each decoder layer keeps only its input and recomputes its forward
  // during backward (as torch.utils.checkpoint, reentrant), trading about one more forward for the activations.
  bool activation_checkpointing = false;
  // Sequence packing in last_hidden/embed (model.pack_sequences): several sequences a row, so that padding
  // positions are not computed.
  bool pack_sequences = false;
  // Fused attention in every layer where this LibTorch has it (model.fused_attention; the explicit path is the
  // reference it is tested against).
  void set_fused_attention(bool on);
  bool fused_attention() const;

  // The last layer evaluates only the pooled positions in last_hidden/embed (exact; off only to measure its gain).
  bool last_layer_pooled_only = true;

  Qwen3Config config;
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};

 private:
  // Every layer over the layout; the last one only at layout.last_index when last_only. [R, C or Q, hidden].
  torch::Tensor run_layers(const TokenLayout& layout, bool last_only);
};
TORCH_MODULE(Qwen3Model);

// model.fused_attention: "auto" (fused where this LibTorch has it), "true" (required), "false" (explicit path).
void apply_fused_attention(Qwen3ModelImpl& model, const std::string& mode);

}  // namespace rslicer::model
