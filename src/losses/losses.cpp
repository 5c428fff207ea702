#include "losses/losses.h"

#include <cmath>

#include "dist/all_gather_with_grad.h"

namespace rslicer::losses {

namespace F = torch::nn::functional;

namespace {
torch::Tensor unit(const torch::Tensor& x) { return F::normalize(x, F::NormalizeFuncOptions().p(2).dim(-1)); }
}  // namespace

torch::Tensor info_nce(const torch::Tensor& a_local, const torch::Tensor& b_global, std::int64_t offset,
                       const torch::Tensor& scale) {
  auto logits = torch::matmul(unit(a_local), unit(b_global).t()) * scale;
  auto labels = torch::arange(a_local.size(0), torch::TensorOptions().dtype(torch::kInt64)) + offset;
  return F::cross_entropy(logits, labels);
}

torch::Tensor modal_loss(const LossInputs& in, dist::Communicator& comm, double temperature) {
  torch::Tensor scale = in.logit_scale.defined() ? in.logit_scale.clamp_max(std::log(100.0)).exp()
                                                 : torch::full({}, 1.0 / temperature);
  const std::int64_t offset = comm.rank() * in.z.size(0);
  auto gm = dist::all_gather_with_grad(in.e_m, comm), gt = dist::all_gather_with_grad(in.e_t, comm),
       gl = dist::all_gather_with_grad(in.e_l, comm);
  auto pair = [&](const torch::Tensor& a, const torch::Tensor& ga, const torch::Tensor& b, const torch::Tensor& gb) {
    return 0.5 * (info_nce(a, gb, offset, scale) + info_nce(b, ga, offset, scale));
  };
  return (pair(in.e_t, gt, in.e_m, gm) + pair(in.e_t, gt, in.e_l, gl) + pair(in.e_m, gm, in.e_l, gl)) / 3.0;
}

torch::Tensor overlap_weights(const torch::Tensor& ba, const torch::Tensor& ea, const torch::Tensor& bb,
                              const torch::Tensor& eb) {
  auto lo = torch::maximum(ba.unsqueeze(1), bb.unsqueeze(0));
  auto hi = torch::minimum(ea.unsqueeze(1), eb.unsqueeze(0));
  auto overlap = (hi - lo).clamp_min(0).to(torch::kFloat64);
  auto length = torch::maximum((ea - ba).unsqueeze(1), (eb - bb).unsqueeze(0)).clamp_min(1).to(torch::kFloat64);
  return (overlap / length).to(torch::kFloat32);
}

torch::Tensor temporal_loss(const LossInputs& in, dist::Communicator& comm, double delta) {
  const std::int64_t n = in.z.size(0), W = comm.world_size();
  auto zg = dist::all_gather_with_grad(in.z, comm);
  auto bg = dist::all_gather(in.begin_ns, comm), eg = dist::all_gather(in.end_ns, comm);
  auto omega = overlap_weights(in.begin_ns, in.end_ns, bg, eg);  // [n, W n]
  // i != j: a row never pairs with itself (its global column is rank * n + i).
  auto self = torch::zeros_like(omega, torch::kBool);
  self.index_put_({torch::arange(n), torch::arange(n) + comm.rank() * n}, true);
  omega = omega.masked_fill(self, 0.0);
  // Z over the whole global batch, from the gathered times (identical on every rank, no gradient).
  auto omega_global = overlap_weights(bg, eg, bg, eg);
  omega_global.fill_diagonal_(0.0);
  const double Z = omega_global.sum().item<double>();
  if (Z <= 0) return torch::zeros({}, in.z.options());
  auto sim = torch::matmul(unit(in.z), unit(zg).t());
  auto local_sum = (omega * (delta - sim).clamp_min(0)).sum();
  return static_cast<double>(W) * local_sum / Z;
}

torch::Tensor anomaly_loss(const LossInputs& in, dist::Communicator& comm, double gamma) {
  const std::int64_t W = comm.world_size();
  auto zg = dist::all_gather_with_grad(in.z, comm);
  auto lg = dist::all_gather(in.labels, comm);
  const double pairs = static_cast<double>((lg == 0).sum().item<std::int64_t>()) *
                       static_cast<double>((lg == 1).sum().item<std::int64_t>());
  if (pairs == 0) return torch::zeros({}, in.z.options());
  auto normal_rows = (in.labels == 0).to(torch::kFloat32).unsqueeze(1);  // local normal rows
  auto abnormal_cols = (lg == 1).to(torch::kFloat32).unsqueeze(0);       // global abnormal columns
  auto sim = torch::matmul(unit(in.z), unit(zg).t());
  auto local_sum = (normal_rows * abnormal_cols * (sim - gamma).clamp_min(0)).sum();
  return static_cast<double>(W) * local_sum / pairs;
}

LossTerms runtime_slicer_loss(const LossInputs& in, dist::Communicator& comm, const LossOptions& o) {
  LossTerms t;
  t.modal = modal_loss(in, comm, o.temperature);
  t.temporal = temporal_loss(in, comm, o.delta);
  t.anomaly = anomaly_loss(in, comm, o.gamma);
  t.total = t.modal + o.lambda_temp * t.temporal + o.lambda_anom * t.anomaly;
  return t;
}

}  // namespace rslicer::losses
