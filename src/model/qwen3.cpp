#include "model/qwen3.h"

#include <limits>

namespace rslicer::model {

namespace F = torch::nn::functional;

RMSNormImpl::RMSNormImpl(std::int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  auto x32 = x.to(torch::kFloat32);
  auto variance = x32.pow(2).mean(-1, /*keepdim=*/true);
  x32 = x32 * torch::rsqrt(variance + eps);
  return weight * x32.to(x.scalar_type());
}

std::pair<torch::Tensor, torch::Tensor> rope_tables(std::int64_t seq, std::int64_t head_dim, double theta,
                                                     torch::Device device) {
  auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  // inv_freq = theta^(-2i/D), computed as HF does (int64 arange -> float, then pow).
  auto exponents = torch::arange(0, head_dim, 2, torch::TensorOptions().dtype(torch::kInt64).device(device)).to(torch::kFloat32) /
                   static_cast<double>(head_dim);
  auto inv_freq = 1.0 / torch::pow(torch::full({}, theta, opts), exponents);
  auto positions = torch::arange(seq, opts);
  auto freqs = torch::outer(positions, inv_freq);  // [S, D/2]
  auto emb = torch::cat({freqs, freqs}, -1);       // [S, D]
  return {emb.cos(), emb.sin()};
}

namespace {
torch::Tensor rotate_half(const torch::Tensor& x) {
  const auto half = x.size(-1) / 2;
  auto x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  return torch::cat({-x2, x1}, -1);
}
}  // namespace

torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  auto c = cos.to(x.scalar_type()), s = sin.to(x.scalar_type());
  return x * c + rotate_half(x) * s;
}

torch::Tensor attention_mask(const torch::Tensor& padding_mask, torch::Dtype dtype) {
  const auto seq = padding_mask.size(1);
  auto causal = torch::ones({seq, seq}, torch::TensorOptions().dtype(torch::kBool).device(padding_mask.device())).tril();
  auto keys = padding_mask.to(torch::kBool).unsqueeze(1).unsqueeze(2);  // [B, 1, 1, S]
  auto allowed = causal.unsqueeze(0).unsqueeze(0) & keys;               // [B, 1, S, S]
  const double min = dtype == torch::kFloat64 ? std::numeric_limits<double>::lowest()
                     : dtype == torch::kBFloat16 ? -3.3895313892515355e38
                     : dtype == torch::kFloat16  ? -65504.0
                                                 : static_cast<double>(std::numeric_limits<float>::lowest());
  auto zeros = torch::zeros({}, torch::TensorOptions().dtype(dtype).device(padding_mask.device()));
  auto mins = torch::full({}, min, torch::TensorOptions().dtype(dtype).device(padding_mask.device()));
  return torch::where(allowed, zeros, mins);
}

Qwen3AttentionImpl::Qwen3AttentionImpl(const Qwen3Config& c)
    : heads(c.num_attention_heads), kv_heads(c.num_key_value_heads), head_dim(c.head_dim) {
  auto linear = [](std::int64_t in, std::int64_t out) { return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false)); };
  q_proj = register_module("q_proj", linear(c.hidden_size, heads * head_dim));
  k_proj = register_module("k_proj", linear(c.hidden_size, kv_heads * head_dim));
  v_proj = register_module("v_proj", linear(c.hidden_size, kv_heads * head_dim));
  o_proj = register_module("o_proj", linear(heads * head_dim, c.hidden_size));
  q_norm = register_module("q_norm", RMSNorm(head_dim, c.rms_norm_eps));
  k_norm = register_module("k_norm", RMSNorm(head_dim, c.rms_norm_eps));
}

torch::Tensor Qwen3AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                          const torch::Tensor& mask) {
  const auto B = x.size(0), S = x.size(1);
  // Per-head RMSNorm over D before RoPE, then [B, H, S, D].
  auto q = q_norm(q_proj(x).view({B, S, heads, head_dim})).transpose(1, 2);
  auto k = k_norm(k_proj(x).view({B, S, kv_heads, head_dim})).transpose(1, 2);
  auto v = v_proj(x).view({B, S, kv_heads, head_dim}).transpose(1, 2);
  q = apply_rope(q, cos, sin);
  k = apply_rope(k, cos, sin);
  // GQA: each key/value head serves heads / kv_heads query heads (HF's repeat_kv).
  const auto groups = heads / kv_heads;
  if (groups > 1) {
    k = k.repeat_interleave(groups, 1);
    v = v.repeat_interleave(groups, 1);
  }
  auto scores = torch::matmul(q, k.transpose(2, 3)) * (1.0 / std::sqrt(static_cast<double>(head_dim))) + mask;
  auto probs = torch::softmax(scores, -1, torch::kFloat32).to(q.scalar_type());
  auto out = torch::matmul(probs, v).transpose(1, 2).contiguous().view({B, S, heads * head_dim});
  return o_proj(out);
}

Qwen3MLPImpl::Qwen3MLPImpl(const Qwen3Config& c) {
  auto linear = [](std::int64_t in, std::int64_t out) { return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false)); };
  gate_proj = register_module("gate_proj", linear(c.hidden_size, c.intermediate_size));
  up_proj = register_module("up_proj", linear(c.hidden_size, c.intermediate_size));
  down_proj = register_module("down_proj", linear(c.intermediate_size, c.hidden_size));
}

torch::Tensor Qwen3MLPImpl::forward(const torch::Tensor& x) { return down_proj(F::silu(gate_proj(x)) * up_proj(x)); }

Qwen3DecoderLayerImpl::Qwen3DecoderLayerImpl(const Qwen3Config& c) {
  self_attn = register_module("self_attn", Qwen3Attention(c));
  mlp = register_module("mlp", Qwen3MLP(c));
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

torch::Tensor Qwen3DecoderLayerImpl::forward(const torch::Tensor& h, const torch::Tensor& cos, const torch::Tensor& sin,
                                             const torch::Tensor& mask) {
  auto x = h + self_attn(input_layernorm(h), cos, sin, mask);
  return x + mlp(post_attention_layernorm(x));
}

Qwen3ModelImpl::Qwen3ModelImpl(const Qwen3Config& c) : config(c) {
  c.validate();
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(c.vocab_size, c.hidden_size));
  layers = register_module("layers", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(Qwen3DecoderLayer(c));
  norm = register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

namespace {

// One decoder layer whose activations are recomputed in backward. forward runs without recording; backward runs
// the layer again with recording on a detached copy of its input and back-propagates through it, which
// accumulates the layer's parameter gradients (and fires their hooks, so the gradient reducer works unchanged) and
// gives the input's gradient. Deterministic because the layer has no dropout.
class CheckpointedLayer : public torch::autograd::Function<CheckpointedLayer> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& h, const torch::Tensor& cos,
                               const torch::Tensor& sin, const torch::Tensor& mask, Qwen3DecoderLayerImpl* layer) {
    ctx->save_for_backward({h, cos, sin, mask});
    // autograd's context stores IValues: the layer goes in as its address (it outlives the graph: the module
    // owns it and the graph is consumed by the backward of this step).
    ctx->saved_data["layer"] = static_cast<std::int64_t>(reinterpret_cast<std::intptr_t>(layer));
    torch::NoGradGuard no_grad;
    return layer->forward(h, cos, sin, mask);
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad_output) {
    auto saved = ctx->get_saved_variables();
    auto* layer = reinterpret_cast<Qwen3DecoderLayerImpl*>(static_cast<std::intptr_t>(ctx->saved_data["layer"].toInt()));
    torch::Tensor h = saved[0].detach().requires_grad_(true);
    torch::Tensor out;
    {
      torch::AutoGradMode record(true);
      out = layer->forward(h, saved[1], saved[2], saved[3]);
    }
    torch::autograd::backward({out}, {grad_output[0]});
    return {h.grad(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor Qwen3ModelImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& padding_mask) {
  auto h = embed_tokens(input_ids);
  // Positions 0..S-1 whatever the padding, as HF does without explicit position_ids; RoPE is relative, so the
  // attention between real tokens does not depend on the padding offset.
  auto [cos, sin] = rope_tables(input_ids.size(1), config.head_dim, config.rope_theta, input_ids.device());
  auto mask = attention_mask(padding_mask, h.scalar_type());
  const bool recompute = activation_checkpointing && is_training() && torch::GradMode::is_enabled();
  for (const auto& layer : *layers) {
    auto* l = layer->as<Qwen3DecoderLayer>();
    h = recompute && h.requires_grad() ? CheckpointedLayer::apply(h, cos, sin, mask, l) : l->forward(h, cos, sin, mask);
  }
  return norm(h);
}

torch::Tensor Qwen3ModelImpl::embed(const torch::Tensor& input_ids, const torch::Tensor& padding_mask,
                                    std::int64_t mrl_dim) {
  auto hidden = forward(input_ids, padding_mask);
  auto last = hidden.select(1, hidden.size(1) - 1);  // left padding: the last position is the last real token
  auto e = F::normalize(last.to(torch::kFloat32), F::NormalizeFuncOptions().p(2).dim(-1));
  if (mrl_dim > 0 && mrl_dim < e.size(-1))
    e = F::normalize(e.narrow(-1, 0, mrl_dim), F::NormalizeFuncOptions().p(2).dim(-1));
  return e;
}

void Qwen3ModelImpl::reset_parameters(std::uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed);
  for (auto& p : named_parameters()) {
    const auto& name = p.key();
    auto& t = p.value();
    if (name.size() >= 11 && name.compare(name.size() - 11, 11, "norm.weight") == 0) {
      t.fill_(1.0);
    } else {
      auto values = at::normal(0.0, 0.02, t.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat32));
      t.copy_(values);
    }
  }
}

void Qwen3ModelImpl::freeze(std::int64_t n_layers, bool embeddings) {
  if (embeddings) embed_tokens->weight.set_requires_grad(false);
  for (std::int64_t i = 0; i < n_layers && i < static_cast<std::int64_t>(layers->size()); ++i)
    for (auto& p : layers[static_cast<std::size_t>(i)]->parameters()) p.set_requires_grad(false);
}

}  // namespace rslicer::model
