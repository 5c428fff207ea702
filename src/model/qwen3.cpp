#include "model/qwen3.h"

#include <torch/version.h>

#include <algorithm>
#include <limits>

#include "core/error.h"
#include "model/autocast.h"
#include "model/sequence_packing.h"

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

std::pair<torch::Tensor, torch::Tensor> rope_tables(const torch::Tensor& positions, std::int64_t head_dim,
                                                     double theta) {
  auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(positions.device());
  // inv_freq = theta^(-2i/D), computed as HF does (int64 arange -> float, then pow).
  auto exponents = torch::arange(0, head_dim, 2, torch::TensorOptions().dtype(torch::kInt64).device(positions.device())).to(torch::kFloat32) /
                   static_cast<double>(head_dim);
  auto inv_freq = 1.0 / torch::pow(torch::full({}, theta, opts), exponents);
  auto freqs = positions.to(torch::kFloat32).unsqueeze(-1) * inv_freq;  // [P, S, D/2], as HF's outer product
  auto emb = torch::cat({freqs, freqs}, -1).unsqueeze(1);              // [P, 1, S, D]
  return {emb.cos(), emb.sin()};
}

std::pair<torch::Tensor, torch::Tensor> rope_tables(std::int64_t seq, std::int64_t head_dim, double theta,
                                                     torch::Device device) {
  auto positions = torch::arange(seq, torch::TensorOptions().dtype(torch::kInt64).device(device)).unsqueeze(0);
  auto [cos, sin] = rope_tables(positions, head_dim, theta);
  return {cos.view({seq, head_dim}), sin.view({seq, head_dim})};
}

namespace {
torch::Tensor rotate_half(const torch::Tensor& x) {
  const auto half = x.size(-1) / 2;
  auto x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  return torch::cat({-x2, x1}, -1);
}

// t [B or 1, ..., S, X] at the positions idx [B, Q] along the S axis `dim` -> [B, ..., Q, X] (a leading 1 is
// broadcast to B: the RoPE tables of the left-padded layout).
torch::Tensor gather_positions(const torch::Tensor& t, const torch::Tensor& idx, std::int64_t dim) {
  auto full = t.sizes().vec();
  full[0] = idx.size(0);
  auto index_shape = full;
  index_shape[static_cast<std::size_t>(dim)] = idx.size(1);
  std::vector<std::int64_t> view(static_cast<std::size_t>(t.dim()), 1);
  view[0] = idx.size(0);
  view[static_cast<std::size_t>(dim)] = idx.size(1);
  return t.expand(full).gather(dim, idx.view(view).expand(index_shape));
}
}  // namespace

torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  auto c = cos.to(x.scalar_type()), s = sin.to(x.scalar_type());
  return x * c + rotate_half(x) * s;
}

torch::Tensor additive_mask(const torch::Tensor& allowed, torch::Dtype dtype) {
  const double min = dtype == torch::kFloat64 ? std::numeric_limits<double>::lowest()
                     : dtype == torch::kBFloat16 ? -3.3895313892515355e38
                     : dtype == torch::kFloat16  ? -65504.0
                                                 : static_cast<double>(std::numeric_limits<float>::lowest());
  auto zeros = torch::zeros({}, torch::TensorOptions().dtype(dtype).device(allowed.device()));
  auto mins = torch::full({}, min, torch::TensorOptions().dtype(dtype).device(allowed.device()));
  return torch::where(allowed, zeros, mins);
}

namespace {
// Plain causal attention as an additive mask [B, 1, Q, S]: the query at position p sees keys 0..p.
torch::Tensor causal_mask(const torch::Tensor& query_positions /* [B, Q] int64 */, std::int64_t S) {
  auto keys = torch::arange(S, query_positions.options());
  return additive_mask(keys.view({1, 1, S}) <= query_positions.unsqueeze(-1), torch::kFloat32).unsqueeze(1);
}

torch::Tensor left_padded_allowed(const torch::Tensor& padding_mask) {
  const auto seq = padding_mask.size(1);
  auto causal = torch::ones({seq, seq}, torch::TensorOptions().dtype(torch::kBool).device(padding_mask.device())).tril();
  auto keys = padding_mask.to(torch::kBool).unsqueeze(1).unsqueeze(2);  // [B, 1, 1, S]
  return causal.unsqueeze(0).unsqueeze(0) & keys;                       // [B, 1, S, S]
}
}  // namespace

torch::Tensor attention_mask(const torch::Tensor& padding_mask, torch::Dtype dtype) {
  return additive_mask(left_padded_allowed(padding_mask), dtype);
}

TokenLayout left_padded_layout(const torch::Tensor& input_ids, const torch::Tensor& padding_mask) {
  const auto N = input_ids.size(0), S = input_ids.size(1);
  auto long_opts = torch::TensorOptions().dtype(torch::kInt64).device(input_ids.device());
  TokenLayout l;
  l.ids = input_ids;
  // Positions 0..S-1 whatever the padding, as HF does without explicit position_ids; RoPE is relative, so the
  // attention between real tokens does not depend on the padding offset.
  l.positions = torch::arange(S, long_opts).unsqueeze(0);
  l.allowed = left_padded_allowed(padding_mask);
  l.last_index = torch::full({N, 1}, S - 1, long_opts);  // left padding: the last position is the last real token
  l.pooled = torch::arange(N, long_opts);
  const double real = padding_mask.sum().item<double>();
  l.padding_fraction = N * S > 0 ? 1.0 - real / static_cast<double>(N * S) : 0.0;
  l.causal_only = real == static_cast<double>(N * S);
  return l;
}

TokenLayout packed_layout(const torch::Tensor& input_ids, const torch::Tensor& padding_mask) {
  const auto N = input_ids.size(0), S = input_ids.size(1);
  auto ids_cpu = input_ids.to(torch::kCPU, torch::kInt64).contiguous();
  auto mask_cpu = padding_mask.to(torch::kCPU, torch::kInt64).contiguous();
  std::vector<std::int64_t> lengths(static_cast<std::size_t>(N));
  for (std::int64_t i = 0; i < N; ++i) lengths[static_cast<std::size_t>(i)] = mask_cpu[i].sum().item<std::int64_t>();
  const PackingPlan plan = plan_packing(lengths, S);
  const auto R = plan.rows;
  std::int64_t Q = 1;
  std::vector<std::int64_t> per_row(static_cast<std::size_t>(R), 0);
  for (const auto& slot : plan.slots) Q = std::max(Q, ++per_row[static_cast<std::size_t>(slot.row)]);

  // Unused positions keep id 0, segment -1 (attend to nothing, seen by nothing); unused query slots repeat the
  // row's last position (their outputs are computed and dropped).
  auto ids = torch::zeros({R, S}, torch::kInt64), positions = torch::zeros({R, S}, torch::kInt64);
  auto segment = torch::full({R, S}, -1, torch::kInt64), last_index = torch::full({R, Q}, S - 1, torch::kInt64);
  auto pooled = torch::zeros({N}, torch::kInt64);
  auto src = ids_cpu.accessor<std::int64_t, 2>();
  auto dst = ids.accessor<std::int64_t, 2>();
  auto pos = positions.accessor<std::int64_t, 2>();
  auto seg = segment.accessor<std::int64_t, 2>();
  auto last = last_index.accessor<std::int64_t, 2>();
  auto pool = pooled.accessor<std::int64_t, 1>();
  std::fill(per_row.begin(), per_row.end(), 0);
  for (std::int64_t i = 0; i < N; ++i) {
    const auto& slot = plan.slots[static_cast<std::size_t>(i)];
    const auto first_real = S - slot.length;  // left padded input
    for (std::int64_t j = 0; j < slot.length; ++j) {
      dst[slot.row][slot.offset + j] = src[i][first_real + j];
      pos[slot.row][slot.offset + j] = j;
      seg[slot.row][slot.offset + j] = i;
    }
    const auto q = per_row[static_cast<std::size_t>(slot.row)]++;
    last[slot.row][q] = slot.offset + std::max<std::int64_t>(slot.length, 1) - 1;
    pool[i] = slot.row * Q + q;
  }
  auto device = input_ids.device();
  TokenLayout l;
  l.ids = ids.to(device);
  l.positions = positions.to(device);
  segment = segment.to(device);
  auto causal = torch::ones({S, S}, torch::TensorOptions().dtype(torch::kBool).device(device)).tril();
  auto same = segment.unsqueeze(2) == segment.unsqueeze(1);  // [R, S, S]
  l.allowed = (same & (segment.unsqueeze(1) >= 0) & causal).unsqueeze(1);
  l.last_index = last_index.to(device);
  l.pooled = pooled.to(device);
  l.padding_fraction = plan.padding_fraction();
  return l;
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
                                          const torch::Tensor& mask, const torch::Tensor& queries) {
  const auto B = x.size(0), S = x.size(1);
  const bool all = !queries.defined();
  const auto Q = all ? S : queries.size(1);
  // Per-head RMSNorm over D before RoPE, then [B, H, S, D] (queries: [B, H, Q, D] at their positions).
  auto q = q_norm(q_proj(all ? x : gather_positions(x, queries, 1)).view({B, Q, heads, head_dim})).transpose(1, 2);
  auto k = k_norm(k_proj(x).view({B, S, kv_heads, head_dim})).transpose(1, 2);
  auto v = v_proj(x).view({B, S, kv_heads, head_dim}).transpose(1, 2);
  q = all ? apply_rope(q, cos, sin) : apply_rope(q, gather_positions(cos, queries, 2), gather_positions(sin, queries, 2));
  k = apply_rope(k, cos, sin);
  // GQA: each key/value head serves heads / kv_heads query heads (HF's repeat_kv).
  const auto groups = heads / kv_heads;
  if (groups > 1) {
    k = k.repeat_interleave(groups, 1);
    v = v.repeat_interleave(groups, 1);
  }
  torch::Tensor query_mask;
  if (mask.defined()) {
    query_mask = all ? mask : gather_positions(mask, queries, 2);
  } else if (!all) {
    query_mask = causal_mask(queries, S);
  }
#if TORCH_VERSION_MAJOR >= 2
  if (fused) {  // one kernel (flash or memory-efficient attention on CUDA); the explicit path below is its reference
    auto out = query_mask.defined() ? at::scaled_dot_product_attention(q, k, v, query_mask.to(q.scalar_type()), 0.0, false)
                                    : at::scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/true);
    return o_proj(out.transpose(1, 2).contiguous().view({B, Q, heads * head_dim}));
  }
#endif
  if (!query_mask.defined())  // every position a query
    query_mask = causal_mask(torch::arange(S, torch::TensorOptions().dtype(torch::kInt64).device(x.device())).view({1, S}), S);
  auto scores = torch::matmul(q, k.transpose(2, 3)) * (1.0 / std::sqrt(static_cast<double>(head_dim))) + query_mask;
  auto probs = torch::softmax(scores, -1, torch::kFloat32).to(q.scalar_type());
  auto out = torch::matmul(probs, v).transpose(1, 2).contiguous().view({B, Q, heads * head_dim});
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
                                             const torch::Tensor& mask, const torch::Tensor& queries) {
  auto x = (queries.defined() ? gather_positions(h, queries, 1) : h) + self_attn(input_layernorm(h), cos, sin, mask, queries);
  return x + mlp(post_attention_layernorm(x));
}

Qwen3ModelImpl::Qwen3ModelImpl(const Qwen3Config& c) : config(c) {
  c.validate();
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(c.vocab_size, c.hidden_size));
  layers = register_module("layers", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(Qwen3DecoderLayer(c));
  norm = register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  if (fused_attention_available()) set_fused_attention(true);
}

void Qwen3ModelImpl::set_fused_attention(bool on) {
  if (on && !fused_attention_available())
    throw ConfigError("fused attention needs LibTorch >= 2.0 (this is " TORCH_VERSION ")", "model.fused_attention",
                      "false with this LibTorch");
  for (auto& layer : *layers) layer->as<Qwen3DecoderLayer>()->self_attn->fused = on;
}

void apply_fused_attention(Qwen3ModelImpl& model, const std::string& mode) {
  if (mode == "auto") return model.set_fused_attention(fused_attention_available());
  if (mode == "true") return model.set_fused_attention(true);
  if (mode == "false") return model.set_fused_attention(false);
  throw ConfigError("unknown value '" + mode + "'", "model.fused_attention", "auto, true or false");
}

bool Qwen3ModelImpl::fused_attention() const {
  return layers->size() > 0 && (*layers)[0]->as<Qwen3DecoderLayer>()->self_attn->fused;
}

namespace {

// One decoder layer whose activations are recomputed in backward. forward runs without recording; backward runs
// the layer again with recording on a detached copy of its input and back-propagates through it, which
// accumulates the layer's parameter gradients (and fires their hooks, so the gradient reducer works unchanged) and
// gives the input's gradient. Deterministic because the layer has no dropout.
class CheckpointedLayer : public torch::autograd::Function<CheckpointedLayer> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& h, const torch::Tensor& cos,
                               const torch::Tensor& sin, const torch::Tensor& mask, Qwen3DecoderLayerImpl* layer,
                               const torch::Tensor& queries) {
    // `queries` is empty for "all positions" (autograd's apply takes no undefined tensors).
    ctx->save_for_backward({h, cos, sin, mask, queries});
    // autograd's context stores IValues: the layer goes in as its address (it outlives the graph: the module
    // owns it and the graph is consumed by the backward of this step).
    ctx->saved_data["layer"] = static_cast<std::int64_t>(reinterpret_cast<std::intptr_t>(layer));
    torch::NoGradGuard no_grad;
    return layer->forward(h, cos, sin, mask.numel() > 0 ? mask : torch::Tensor(), queries.numel() > 0 ? queries : torch::Tensor());
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad_output) {
    auto saved = ctx->get_saved_variables();
    auto* layer = reinterpret_cast<Qwen3DecoderLayerImpl*>(static_cast<std::intptr_t>(ctx->saved_data["layer"].toInt()));
    torch::Tensor h = saved[0].detach().requires_grad_(true);
    torch::Tensor out;
    {
      torch::AutoGradMode record(true);
      out = layer->forward(h, saved[1], saved[2], saved[3].numel() > 0 ? saved[3] : torch::Tensor(),
                           saved[4].numel() > 0 ? saved[4] : torch::Tensor());
    }
    torch::autograd::backward({out}, {grad_output[0]});
    return {h.grad(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor Qwen3ModelImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& padding_mask) {
  return run_layers(left_padded_layout(input_ids, padding_mask), /*last_only=*/false);
}

torch::Tensor Qwen3ModelImpl::last_hidden(const torch::Tensor& input_ids, const torch::Tensor& padding_mask) {
  return last_hidden(pack_sequences ? packed_layout(input_ids, padding_mask) : left_padded_layout(input_ids, padding_mask));
}

torch::Tensor Qwen3ModelImpl::last_hidden(const TokenLayout& layout) {
  auto out = last_layer_pooled_only ? run_layers(layout, /*last_only=*/true)                          // [R, Q, hidden]
                                    : gather_positions(run_layers(layout, /*last_only=*/false), layout.last_index, 1);
  return out.reshape({-1, out.size(-1)}).index_select(0, layout.pooled);
}

torch::Tensor Qwen3ModelImpl::run_layers(const TokenLayout& layout, bool last_only) {
  auto h = embed_tokens(layout.ids);
  auto [cos, sin] = rope_tables(layout.positions, config.head_dim, config.rope_theta);
  auto mask = layout.causal_only ? torch::Tensor() : additive_mask(layout.allowed, h.scalar_type());
  const bool recompute = activation_checkpointing && is_training() && torch::GradMode::is_enabled();
  const auto count = layers->size();
  for (std::size_t i = 0; i < count; ++i) {
    auto* l = layers[i]->as<Qwen3DecoderLayer>();
    // Only the last layer can drop positions: every earlier one feeds the keys and values of the next.
    const torch::Tensor queries = last_only && i + 1 == count ? layout.last_index : torch::Tensor();
    if (recompute && h.requires_grad())
      h = CheckpointedLayer::apply(h, cos, sin, mask.defined() ? mask : torch::empty({0}), l,
                                   queries.defined() ? queries : torch::empty({0}, torch::kInt64));
    else
      h = l->forward(h, cos, sin, mask, queries);
  }
  if (last_only && count == 0) h = gather_positions(h, layout.last_index, 1);
  return norm(h);
}

torch::Tensor Qwen3ModelImpl::embed(const torch::Tensor& input_ids, const torch::Tensor& padding_mask,
                                    std::int64_t mrl_dim) {
  auto last = last_hidden(input_ids, padding_mask);  // left padding: the last position is the last real token
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
