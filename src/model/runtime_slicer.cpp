#include "model/runtime_slicer.h"

namespace rslicer::model {

namespace F = torch::nn::functional;

FusionImpl::FusionImpl(std::int64_t d, const FusionConfig& c) : gating(c.gating) {
  if (gating) gate = register_module("gate", torch::nn::Linear(3 * d, 3));
  fc1 = register_module("fc1", torch::nn::Linear(3 * d, c.hidden_dim));
  fc2 = register_module("fc2", torch::nn::Linear(c.hidden_dim, c.out_dim));
}

torch::Tensor FusionImpl::gates(const torch::Tensor& e_m, const torch::Tensor& e_t, const torch::Tensor& e_l) {
  auto cat = torch::cat({e_m, e_t, e_l}, -1);
  if (!gating) return torch::ones({cat.size(0), 3}, cat.options());
  return 3.0 * torch::softmax(gate(cat), -1);  // uniform gates = identity
}

torch::Tensor FusionImpl::forward(const torch::Tensor& e_m, const torch::Tensor& e_t, const torch::Tensor& e_l) {
  auto g = gates(e_m, e_t, e_l);
  auto cat = torch::cat({e_m * g.select(1, 0).unsqueeze(1), e_t * g.select(1, 1).unsqueeze(1),
                         e_l * g.select(1, 2).unsqueeze(1)},
                        -1);
  auto z = fc2(F::gelu(fc1(cat)));
  return F::normalize(z, F::NormalizeFuncOptions().p(2).dim(-1));
}

RuntimeSlicerImpl::RuntimeSlicerImpl(const Qwen3Config& backbone, const FusionConfig& fusion_config, std::int64_t mrl)
    : mrl_dim(mrl) {
  model = register_module("model", Qwen3Model(backbone));
  const std::int64_t d = mrl > 0 && mrl < backbone.hidden_size ? mrl : backbone.hidden_size;
  fusion = register_module("fusion", Fusion(d, fusion_config));
}

TokenTensors left_pad(const TokenTensors& t, std::int64_t length, std::int64_t pad_id) {
  const auto extra = length - t.ids.size(1);
  if (extra <= 0) return t;
  auto pad_ids = torch::full({t.ids.size(0), extra}, pad_id, t.ids.options());
  auto pad_mask = torch::zeros({t.mask.size(0), extra}, t.mask.options());
  return {torch::cat({pad_ids, t.ids}, 1), torch::cat({pad_mask, t.mask}, 1)};
}

Encoded RuntimeSlicerImpl::encode(const TokenTensors& m, const TokenTensors& t, const TokenTensors& l) {
  const auto B = m.ids.size(0);
  const auto length = std::max({m.ids.size(1), t.ids.size(1), l.ids.size(1)});
  // The pad id never reaches the output (masked keys, last-token pooling); Qwen3's is <|endoftext|>.
  constexpr std::int64_t pad = 0;  // any valid id works: padded keys are masked and never pooled
  auto pm = left_pad(m, length, pad), pt = left_pad(t, length, pad), pl = left_pad(l, length, pad);
  auto ids = torch::cat({pm.ids, pt.ids, pl.ids}, 0);
  auto mask = torch::cat({pm.mask, pt.mask, pl.mask}, 0);
  auto e = model->embed(ids, mask, mrl_dim);  // one backbone call over the three modalities
  Encoded out;
  out.e_m = e.narrow(0, 0, B);
  out.e_t = e.narrow(0, B, B);
  out.e_l = e.narrow(0, 2 * B, B);
  out.z = fusion(out.e_m, out.e_t, out.e_l);
  return out;
}

Encoded RuntimeSlicerImpl::encode(const TokenTensors& m, const TokenTensors& t, const TokenTensors& l,
                                  Precision precision, torch::DeviceType device) {
  Encoded e;
  {
    AutocastGuard autocast(device, precision);
    e = encode(m, t, l);
  }
  for (auto* x : {&e.e_m, &e.e_t, &e.e_l, &e.z}) *x = x->to(torch::kFloat32);
  return e;
}

void RuntimeSlicerImpl::reset_parameters(std::uint64_t seed) {
  model->reset_parameters(seed);
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed + 1);
  for (auto& p : fusion->named_parameters()) {
    if (p.key().find("bias") != std::string::npos)
      p.value().zero_();
    else
      p.value().copy_(at::normal(0.0, 0.02, p.value().sizes(), gen, torch::TensorOptions().dtype(torch::kFloat32)));
  }
}

}  // namespace rslicer::model
