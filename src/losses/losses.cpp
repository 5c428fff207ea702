#include "losses/losses.h"

#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "core/error.h"
#include "dist/all_gather_with_grad.h"

namespace rslicer::losses {

namespace F = torch::nn::functional;

namespace {
torch::Tensor unit(const torch::Tensor& x) { return F::normalize(x, F::NormalizeFuncOptions().p(2).dim(-1)); }

// Sets, in a [n, global] mask, each local row's own column (row i of this rank is global column offset + i).
void set_own_columns(torch::Tensor& mask, std::int64_t offset, bool value) {
  const auto rows = torch::arange(mask.size(0), torch::TensorOptions().dtype(torch::kInt64).device(mask.device()));
  mask.index_put_({rows, rows + offset}, value);
}
}  // namespace

torch::Tensor info_nce(const torch::Tensor& a_local, const torch::Tensor& b_global, std::int64_t offset,
                       const torch::Tensor& scale, const torch::Tensor& excluded) {
  auto logits = torch::matmul(unit(a_local), unit(b_global).t()) * scale;
  if (excluded.defined()) logits = logits.masked_fill(excluded, -std::numeric_limits<float>::infinity());
  auto labels = torch::arange(a_local.size(0), torch::TensorOptions().dtype(torch::kInt64).device(logits.device())) + offset;
  return F::cross_entropy(logits, labels);
}

torch::Tensor overlapping_negatives(const torch::Tensor& begin_local, const torch::Tensor& end_local,
                                    const torch::Tensor& begin_global, const torch::Tensor& end_global,
                                    std::int64_t offset) {
  auto excluded = overlap_weights(begin_local, end_local, begin_global, end_global) > 0;
  set_own_columns(excluded, offset, false);  // the positive stays
  return excluded;
}

namespace {

// This rank's first row in the global batch.
std::int64_t row_offset(const LossInputs& in, int rank) {
  if (in.rows_per_rank.empty()) return rank * in.z.size(0);
  std::int64_t offset = 0;
  for (int r = 0; r < rank; ++r) offset += in.rows_per_rank[static_cast<std::size_t>(r)];
  return offset;
}

std::int64_t horizon_ns(double seconds) { return static_cast<std::int64_t>(std::llround(seconds * 1e9)); }

// Fault types as given, or none known (-1 for every row) where the caller gave none.
torch::Tensor types_or_none(const torch::Tensor& fault_types, const torch::Tensor& labels) {
  return fault_types.defined() ? fault_types : torch::full_like(labels, -1);
}

}  // namespace

GlobalBatch gather_global_batch(const LossInputs& in, dist::Communicator& comm) {
  const torch::Tensor types = types_or_none(in.fault_types, in.labels);
  if (comm.world_size() == 1) return {in.e_m, in.e_t, in.e_l, in.z, in.begin_ns, in.end_ns, in.labels, 0, types};
  const std::vector<torch::Tensor> embeddings = {in.e_m, in.e_t, in.e_l, in.z};
  std::vector<std::int64_t> widths;
  for (const auto& e : embeddings) widths.push_back(e.size(1));
  // Side by side, so that rank r's rows stay rows offset_r .. of the gathered block; split back into the four.
  const auto gathered = dist::all_gather_with_grad(torch::cat(embeddings, 1), comm, in.rows_per_rank).split_with_sizes(widths, 1);
  const auto times = dist::all_gather(torch::stack({in.begin_ns, in.end_ns, in.labels, types}, 1), comm, in.rows_per_rank);
  return {gathered[0], gathered[1], gathered[2], gathered[3], times.select(1, 0), times.select(1, 1), times.select(1, 2),
          row_offset(in, comm.rank()), times.select(1, 3)};
}

torch::Tensor modal_loss(const LossInputs& in, const GlobalBatch& g, int world, double temperature,
                         bool mask_overlapping) {
  torch::Tensor scale = in.logit_scale.defined() ? in.logit_scale.clamp_max(std::log(100.0)).exp()
                                                 : torch::full({}, 1.0 / temperature, in.e_t.options());
  const torch::Tensor excluded =
      mask_overlapping ? overlapping_negatives(in.begin_ns, in.end_ns, g.begin_ns, g.end_ns, g.offset) : torch::Tensor();
  auto pair = [&](const torch::Tensor& a, const torch::Tensor& ga, const torch::Tensor& b, const torch::Tensor& gb) {
    return 0.5 * (info_nce(a, gb, g.offset, scale, excluded) + info_nce(b, ga, g.offset, scale, excluded));
  };
  // The mean over this rank's rows, weighed by its share of the global batch (1 when the ranks hold equal parts):
  // the mean over ranks is then the mean over the global batch's rows.
  const double share = static_cast<double>(world * in.e_t.size(0)) / static_cast<double>(g.e_t.size(0));
  return share * (pair(in.e_t, g.e_t, in.e_m, g.e_m) + pair(in.e_t, g.e_t, in.e_l, g.e_l) + pair(in.e_m, g.e_m, in.e_l, g.e_l)) / 3.0;
}

torch::Tensor overlap_weights(const torch::Tensor& ba, const torch::Tensor& ea, const torch::Tensor& bb,
                              const torch::Tensor& eb) {
  auto lo = torch::maximum(ba.unsqueeze(1), bb.unsqueeze(0));
  auto hi = torch::minimum(ea.unsqueeze(1), eb.unsqueeze(0));
  auto overlap = (hi - lo).clamp_min(0).to(torch::kFloat64);
  auto length = torch::maximum((ea - ba).unsqueeze(1), (eb - bb).unsqueeze(0)).clamp_min(1).to(torch::kFloat64);
  return (overlap / length).to(torch::kFloat32);
}

torch::Tensor temporal_loss(const LossInputs& in, const GlobalBatch& g, int world, double delta) {
  auto omega = overlap_weights(in.begin_ns, in.end_ns, g.begin_ns, g.end_ns);  // [n, W n]
  // i != j: a row never pairs with itself (its global column is rank * n + i).
  auto self = torch::zeros_like(omega, torch::kBool);
  set_own_columns(self, g.offset, true);
  omega = omega.masked_fill(self, 0.0);
  // Z over the whole global batch, from the gathered times (identical on every rank, no gradient).
  auto omega_global = overlap_weights(g.begin_ns, g.end_ns, g.begin_ns, g.end_ns);
  omega_global.fill_diagonal_(0.0);
  const double Z = omega_global.sum().item<double>();
  if (Z <= 0) return torch::zeros({}, in.z.options());
  auto sim = torch::matmul(unit(in.z), unit(g.z).t());
  auto local_sum = (omega * (delta - sim).clamp_min(0)).sum();
  return static_cast<double>(world) * local_sum / Z;
}

torch::Tensor anomaly_loss(const LossInputs& in, const GlobalBatch& g, int world, double gamma) {
  const double pairs = static_cast<double>((g.labels == 0).sum().item<std::int64_t>()) *
                       static_cast<double>((g.labels == 1).sum().item<std::int64_t>());
  if (pairs == 0) return torch::zeros({}, in.z.options());
  auto normal_rows = (in.labels == 0).to(torch::kFloat32).unsqueeze(1);  // local normal rows
  auto abnormal_cols = (g.labels == 1).to(torch::kFloat32).unsqueeze(0);  // global abnormal columns
  auto sim = torch::matmul(unit(in.z), unit(g.z).t());
  auto local_sum = (normal_rows * abnormal_cols * (sim - gamma).clamp_min(0)).sum();
  return static_cast<double>(world) * local_sum / pairs;
}

namespace {

// Supervised contrastive loss (Khosla et al. 2020) of this rank's rows against the global batch: an anchor's softmax
// runs over the other members (`member` [N]) that do not overlap it, its positives are `positive` [N, N] (members,
// overlapping none); the mean over anchors (rows with a positive) of the whole global batch, 0 without any.
torch::Tensor supervised_contrastive(const LossInputs& in, const GlobalBatch& g, int world, double temperature,
                                     const torch::Tensor& member, const torch::Tensor& positive,
                                     const torch::Tensor& overlapping) {
  const auto anchors = static_cast<double>((positive.sum(1) > 0).sum().item<std::int64_t>());
  if (anchors == 0) return torch::zeros({}, in.z.options());
  const std::int64_t n = in.z.size(0);
  const auto mine = positive.narrow(0, g.offset, n);  // [n, N]: this rank's rows' positives
  // A row that is no anchor keeps every column in its softmax (its loss is masked out below): no softmax row is
  // empty, and every rank's loss reads the gathered z (its backward is a collective all ranks must join).
  const auto candidate = (member.unsqueeze(0) & ~overlapping.narrow(0, g.offset, n)) | ~mine.any(1, true);
  const auto logits = torch::matmul(unit(in.z), unit(g.z).t()) / temperature;
  const auto log_prob = torch::log_softmax(logits.masked_fill(~candidate, -std::numeric_limits<float>::infinity()), 1);
  const auto per_row = -log_prob.masked_fill(~mine, 0.0).sum(1) / mine.sum(1).clamp_min(1).to(log_prob.scalar_type());
  return static_cast<double>(world) * per_row.sum() / anchors;
}

}  // namespace

torch::Tensor type_loss(const LossInputs& in, const GlobalBatch& g, int world, double temperature) {
  const torch::Tensor types = types_or_none(g.fault_types, g.labels);
  const auto typed = (g.labels == 1) & (types >= 0);  // [N]
  // A row overlaps itself (every sample's interval has a positive length): no row is its own positive.
  const auto overlapping = overlap_weights(g.begin_ns, g.end_ns, g.begin_ns, g.end_ns) > 0;  // [N, N]
  const auto positive = typed.unsqueeze(1) & typed.unsqueeze(0) & (types.unsqueeze(1) == types.unsqueeze(0)) & ~overlapping;
  return supervised_contrastive(in, g, world, temperature, typed, positive, overlapping);
}

torch::Tensor neighbourhood_loss(const LossInputs& in, const GlobalBatch& g, int world, double temperature,
                                 std::int64_t horizon_ns) {
  const auto member = g.labels != 1;  // normal or unknown
  const auto overlapping = overlap_weights(g.begin_ns, g.end_ns, g.begin_ns, g.end_ns) > 0;  // [N, N], diagonal true
  const auto near = (g.begin_ns.unsqueeze(1) - g.begin_ns.unsqueeze(0)).abs() <= horizon_ns;
  const auto positive = member.unsqueeze(1) & member.unsqueeze(0) & near & ~overlapping;
  return supervised_contrastive(in, g, world, temperature, member, positive, overlapping);
}

torch::Tensor modal_loss(const LossInputs& in, dist::Communicator& comm, double temperature, bool mask_overlapping) {
  GlobalBatch g;
  g.e_m = dist::all_gather_with_grad(in.e_m, comm, in.rows_per_rank);
  g.e_t = dist::all_gather_with_grad(in.e_t, comm, in.rows_per_rank);
  g.e_l = dist::all_gather_with_grad(in.e_l, comm, in.rows_per_rank);
  g.offset = row_offset(in, comm.rank());
  if (mask_overlapping) {
    g.begin_ns = dist::all_gather(in.begin_ns, comm, in.rows_per_rank);
    g.end_ns = dist::all_gather(in.end_ns, comm, in.rows_per_rank);
  }
  return modal_loss(in, g, comm.world_size(), temperature, mask_overlapping);
}

torch::Tensor temporal_loss(const LossInputs& in, dist::Communicator& comm, double delta) {
  GlobalBatch g;
  g.z = dist::all_gather_with_grad(in.z, comm, in.rows_per_rank);
  g.begin_ns = dist::all_gather(in.begin_ns, comm, in.rows_per_rank);
  g.end_ns = dist::all_gather(in.end_ns, comm, in.rows_per_rank);
  g.offset = row_offset(in, comm.rank());
  return temporal_loss(in, g, comm.world_size(), delta);
}

torch::Tensor anomaly_loss(const LossInputs& in, dist::Communicator& comm, double gamma) {
  GlobalBatch g;
  g.z = dist::all_gather_with_grad(in.z, comm, in.rows_per_rank);
  g.labels = dist::all_gather(in.labels, comm, in.rows_per_rank);
  return anomaly_loss(in, g, comm.world_size(), gamma);
}

torch::Tensor type_loss(const LossInputs& in, dist::Communicator& comm, double temperature) {
  GlobalBatch g;
  g.z = dist::all_gather_with_grad(in.z, comm, in.rows_per_rank);
  g.begin_ns = dist::all_gather(in.begin_ns, comm, in.rows_per_rank);
  g.end_ns = dist::all_gather(in.end_ns, comm, in.rows_per_rank);
  g.labels = dist::all_gather(in.labels, comm, in.rows_per_rank);
  g.fault_types = dist::all_gather(types_or_none(in.fault_types, in.labels), comm, in.rows_per_rank);
  g.offset = row_offset(in, comm.rank());
  return type_loss(in, g, comm.world_size(), temperature);
}

torch::Tensor neighbourhood_loss(const LossInputs& in, dist::Communicator& comm, double temperature,
                                 std::int64_t horizon_ns) {
  GlobalBatch g;
  g.z = dist::all_gather_with_grad(in.z, comm, in.rows_per_rank);
  g.begin_ns = dist::all_gather(in.begin_ns, comm, in.rows_per_rank);
  g.end_ns = dist::all_gather(in.end_ns, comm, in.rows_per_rank);
  g.labels = dist::all_gather(in.labels, comm, in.rows_per_rank);
  g.offset = row_offset(in, comm.rank());
  return neighbourhood_loss(in, g, comm.world_size(), temperature, horizon_ns);
}

void check_loss_options(const LossOptions& o) {
  auto positive = [](double x, const char* key, const char* expected) {
    if (!(std::isfinite(x) && x > 0)) throw ConfigError(fmt::format("{} {}", key, x), key, expected);
  };
  positive(o.temperature, "loss.temperature", "a positive temperature (0.07 is CLIP's)");
  positive(o.neighbourhood_s, "loss.neighbourhood_s", "a positive number of seconds");
  const std::pair<double, const char*> weights[] = {
      {o.lambda_modal, "loss.lambda_modal"}, {o.lambda_temp, "loss.lambda_temp"}, {o.lambda_anom, "loss.lambda_anom"},
      {o.lambda_type, "loss.lambda_type"},   {o.lambda_neighbourhood, "loss.lambda_neighbourhood"}};
  for (const auto& [w, key] : weights)
    if (!(std::isfinite(w) && w >= 0)) throw ConfigError(fmt::format("{} {}", key, w), key, "a weight >= 0 (0: the term off)");
  for (const auto& [x, key] : {std::pair{o.delta, "loss.delta"}, std::pair{o.gamma, "loss.gamma"}})
    if (!(x >= -1 && x <= 1)) throw ConfigError(fmt::format("{} {}", key, x), key, "a cosine similarity in [-1, 1]");
}

LossTerms runtime_slicer_loss(const LossInputs& in, dist::Communicator& comm, const LossOptions& o) {
  const GlobalBatch g = gather_global_batch(in, comm);
  LossTerms t;
  t.modal = modal_loss(in, g, comm.world_size(), o.temperature, o.mask_overlapping);
  t.temporal = temporal_loss(in, g, comm.world_size(), o.delta);
  t.anomaly = anomaly_loss(in, g, comm.world_size(), o.gamma);
  t.type = o.lambda_type > 0 ? type_loss(in, g, comm.world_size(), o.temperature) : torch::zeros({}, in.z.options());
  t.neighbourhood = o.lambda_neighbourhood > 0
                        ? neighbourhood_loss(in, g, comm.world_size(), o.temperature, horizon_ns(o.neighbourhood_s))
                        : torch::zeros({}, in.z.options());
  t.total = o.lambda_modal * t.modal + o.lambda_temp * t.temporal + o.lambda_anom * t.anomaly + o.lambda_type * t.type +
            o.lambda_neighbourhood * t.neighbourhood;
  return t;
}

}  // namespace rslicer::losses
