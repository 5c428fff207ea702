#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <limits>
#include <optional>
#include <thread>

#include "core/error.h"

namespace rslicer::train {

model::TokenTensors to_tensors(const data::TokenBatch& b) {
  auto ids = torch::from_blob(const_cast<std::int64_t*>(b.ids.data()), {b.batch, b.length}, torch::kInt64).clone();
  auto mask = torch::from_blob(const_cast<std::int64_t*>(b.mask.data()), {b.batch, b.length}, torch::kInt64).clone();
  return {ids, mask};
}

BatchTensors to_tensors(const data::Batch& batch) {
  BatchTensors t;
  t.metrics = to_tensors(batch.metrics);
  t.traces = to_tensors(batch.traces);
  t.logs = to_tensors(batch.logs);
  const auto n = static_cast<std::int64_t>(batch.samples.size());
  t.begin_ns = torch::from_blob(const_cast<std::int64_t*>(batch.begin_ns.data()), {n}, torch::kInt64).clone();
  t.end_ns = torch::from_blob(const_cast<std::int64_t*>(batch.end_ns.data()), {n}, torch::kInt64).clone();
  t.labels = torch::empty({n}, torch::kInt64);
  t.fault_types = torch::empty({n}, torch::kInt64);
  for (std::int64_t i = 0; i < n; ++i) {
    t.labels[i] = static_cast<std::int64_t>(batch.labels[static_cast<std::size_t>(i)]);
    t.fault_types[i] = static_cast<std::int64_t>(batch.fault_types[static_cast<std::size_t>(i)]);
  }
  // An even split keeps the losses' plain (equal-count) gathers.
  const auto& split = batch.rank_windows;
  if (std::adjacent_find(split.begin(), split.end(), std::not_equal_to<>()) != split.end()) t.rows_per_rank = split;
  return t;
}

namespace {
// The terms as logged, in this order: total, modal, temporal, anomaly, type, neighbourhood.
constexpr std::int64_t kLoggedTerms = 6;
torch::Tensor logged_terms(const losses::LossTerms& t) {
  return torch::stack({t.total, t.modal, t.temporal, t.anomaly, t.type, t.neighbourhood});
}
}  // namespace

BatchTensors BatchTensors::to(torch::Device device) const {
  if (device == labels.device()) return *this;
  auto move = [&](const model::TokenTensors& t) { return model::TokenTensors{t.ids.to(device), t.mask.to(device)}; };
  return {move(metrics),
          move(traces),
          move(logs),
          begin_ns.to(device),
          end_ns.to(device),
          labels.to(device),
          rows_per_rank,
          fault_types.to(device)};
}

Trainer::Trainer(model::RuntimeSlicer model, dist::Communicator& comm, TrainOptions options, FaultInjector faults)
    : model_(std::move(model)), comm_(comm), options_(options), faults_(faults) {
  if (options_.grad_accum < 1) throw ConfigError("grad_accum must be >= 1", "train.grad_accum", "a positive integer");
  if (options_.nonfinite != "skip" && options_.nonfinite != "stop")
    throw ConfigError("train.nonfinite '" + options_.nonfinite + "'", "train.nonfinite", "skip or stop");
  if (options_.sparse_embedding && !options_.device.is_cpu())
    throw ConfigError("train.sparse_embedding with device " + options_.device.str() +
                          ": the embedding rows' coalescing and exchange are host code",
                      "train.sparse_embedding", "false on a GPU (+experiment=qwen3_0.6b_gpu sets it)");
  model_->to(options_.device);  // parameters keep their identity: set_data onto the device
  std::vector<std::string> names;
  for (const auto& item : model_->named_parameters())
    if (item.value().requires_grad()) {
      names.push_back(item.key());
      params_.push_back(item.value());
    }
  if (options_.learnable_temperature) {
    logit_scale_ = torch::full({}, std::log(1.0 / options_.loss.temperature),
                               torch::TensorOptions().device(options_.device).requires_grad(true));
    names.push_back("loss.logit_scale");
    params_.push_back(logit_scale_);
  }
  const int world = comm_.world_size();
  flat_ = std::make_unique<FlatParameters>(names, params_, world, options_.device);
  zero1_ = options_.zero1 && world > 1;
  std::int64_t sparse_entry = -1;  // the token embedding's entry when its gradient comes as rows
  const std::string embedding = "model.embed_tokens.weight";
  if (options_.sparse_embedding && flat_->find(embedding) >= 0) {
    sparse_entry = flat_->find(embedding);
    model_->model->embed_tokens->options.sparse(true);  // autograd gives a sparse COO gradient
  }
  data_parallel_ = make_data_parallel(zero1_, *flat_, params_, sparse_entry, comm_, options_.reducer);
  const auto [begin, end] = data_parallel_->owned_range();
  optimizer_ = std::make_unique<FlatAdamW>(begin, end, flat_->params().device(), options_.optimizer_kernel);
}

void Trainer::broadcast_parameters() {
  torch::NoGradGuard no_grad;
  comm_.broadcast(flat_->params(), 0)->wait();
}

double Trainer::lr_at(std::int64_t step) const {
  if (options_.warmup_steps > 0 && step < options_.warmup_steps)
    return options_.lr * static_cast<double>(step + 1) / static_cast<double>(options_.warmup_steps);
  const double span = std::max<std::int64_t>(1, options_.max_steps - options_.warmup_steps);
  const double progress = std::min(1.0, static_cast<double>(step - options_.warmup_steps) / span);
  const double cosine = 0.5 * (1.0 + std::cos(M_PI * progress));
  return options_.lr * (options_.min_lr_ratio + (1.0 - options_.min_lr_ratio) * cosine);
}

void Trainer::check_rows_per_rank(const BatchTensors& b) const {
  if (!b.rows_per_rank.empty() &&
      (static_cast<int>(b.rows_per_rank.size()) != comm_.world_size() ||
       b.rows_per_rank[static_cast<std::size_t>(comm_.rank())] != b.labels.size(0)))
    throw Error("a batch of " + std::to_string(b.labels.size(0)) + " windows split as " + std::to_string(b.rows_per_rank.size()) + " parts",
                "train::Trainer (rank " + std::to_string(comm_.rank()) + ")",
                "one part per rank (" + std::to_string(comm_.world_size()) + "), this rank's equal to its windows");
}

losses::LossTerms Trainer::loss_of(const model::Encoded& e, const BatchTensors& b) {
  losses::LossInputs in{e.e_m, e.e_t, e.e_l, e.z, b.begin_ns, b.end_ns, b.labels, logit_scale_, b.rows_per_rank, b.fault_types};
  return losses::runtime_slicer_loss(in, comm_, options_.loss);
}

losses::LossTerms Trainer::forward_loss(const BatchTensors& b) {
  check_rows_per_rank(b);
  // The losses take fp32 (the encoder may run under bf16 autocast).
  const auto e0 = std::chrono::steady_clock::now();
  const model::Encoded e = model_->encode(b.metrics, b.traces, b.logs, options_.precision, options_.device.type());
  faults_.slow_down(comm_.rank(), e0);
  return loss_of(e, b);
}

ChunkedInputs Trainer::chunked(const BatchTensors& b) const {
  return {b.metrics, b.traces, b.logs, options_.cached_chunk_windows, options_.precision, options_.device.type()};
}

losses::LossTerms Trainer::cached_forward_loss(const BatchTensors& b, CachedEmbeddings& cached) {
  check_rows_per_rank(b);
  const auto e0 = std::chrono::steady_clock::now();
  cached = encode_without_graphs(model_, chunked(b));
  faults_.slow_down(comm_.rank(), e0);
  return loss_of(cached.leaves, b);
}

void Trainer::cached_backward(const BatchTensors& b, const CachedEmbeddings& cached, const torch::Tensor& loss,
                              bool reduce) {
  // The embeddings' gradients touch no parameter but a learnable temperature, whose hook must not launch a
  // reduction before the chunks' backward (it joins the last chunk's pass instead).
  data_parallel_->prepare(false);
  torch::Tensor temperature_grad;
  const model::Encoded grads = embedding_gradients(loss, cached.leaves, logit_scale_, temperature_grad);
  backward_through_chunks(model_, chunked(b), cached, grads,
                          [&](bool last_chunk) { data_parallel_->prepare(reduce && last_chunk); }, logit_scale_,
                          temperature_grad);
}

losses::LossTerms Trainer::evaluate(const data::Batch& batch) {
  torch::NoGradGuard no_grad;
  model_->eval();
  auto terms = forward_loss(to_tensors(batch).to(options_.device));
  model_->train();
  // Mean over ranks: the global batch's loss.
  torch::Tensor values = logged_terms(terms).contiguous();
  comm_.allreduce(values, dist::ReduceOp::avg)->wait();
  return {values[0], values[1], values[2], values[3], values[4], values[5]};
}

StepStats Trainer::step(const std::vector<data::Batch>& micro_batches) {
  if (static_cast<std::int64_t>(micro_batches.size()) != options_.grad_accum)
    throw Error("step got " + std::to_string(micro_batches.size()) + " micro-batches", "train::Trainer",
                std::to_string(options_.grad_accum) + " (train.grad_accum)");
  const auto t0 = std::chrono::steady_clock::now();
  const double wait_before = data_parallel_->seconds_waiting();
  StepStats s;
  s.step = step_;
  s.lr = lr_at(step_);
  // The logged terms (logged_terms' order): the global batch's mean
  torch::Tensor logged = torch::zeros({kLoggedTerms}, torch::TensorOptions().device(options_.device));
  const std::shared_ptr<dist::Work> logged_work = forward_backward(micro_batches, s, logged);
  const auto o0 = std::chrono::steady_clock::now();
  s.grad_norm = std::sqrt(data_parallel_->reduce_gradients());
  logged_work->wait();
  s.loss = logged[0].item<double>();
  if (!skip_if_nonfinite(s)) {
    float clip_scale = 1.0f;
    if (options_.grad_clip > 0 && s.grad_norm > options_.grad_clip)
      clip_scale = static_cast<float>(options_.grad_clip / (s.grad_norm + 1e-6));
    optimizer_->begin_update({s.lr, 0.9, 0.999, options_.adam_eps, options_.weight_decay}, clip_scale);
    torch::NoGradGuard no_grad;
    data_parallel_->apply(*optimizer_);
  }
  ++step_;
  s.optimizer_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - o0).count();
  s.modal = logged[1].item<double>();
  s.temporal = logged[2].item<double>();
  s.anomaly = logged[3].item<double>();
  s.type = logged[4].item<double>();
  s.neighbourhood = logged[5].item<double>();
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  s.comm_wait_seconds = data_parallel_->seconds_waiting() - wait_before;
  return s;
}

std::shared_ptr<dist::Work> Trainer::forward_backward(const std::vector<data::Batch>& micro_batches, StepStats& s,
                                                      torch::Tensor& logged) {
  const double waited_before = comm_.seconds_waiting();
  for (auto& p : params_) p.mutable_grad() = torch::Tensor();
  std::shared_ptr<dist::Work> logged_work;
  const bool cache = options_.cached_chunk_windows > 0;
  for (std::size_t k = 0; k < micro_batches.size(); ++k) {
    const bool last = k + 1 == micro_batches.size();
    data_parallel_->prepare(last);
    const auto f0 = std::chrono::steady_clock::now();
    const BatchTensors tensors = to_tensors(micro_batches[k]).to(options_.device);
    CachedEmbeddings cached;
    auto terms = cache ? cached_forward_loss(tensors, cached) : forward_loss(tensors);
    terms.total = faults_.on_loss(step_, terms.total);
    faults_.after_forward(comm_.rank(), step_);
    const auto f1 = std::chrono::steady_clock::now();
    logged += logged_terms(terms).detach() /
              static_cast<double>(options_.grad_accum);
    // The global batch's loss is known now: its all-reduce goes out before backward and is done by its end.
    if (last) logged_work = comm_.allreduce(logged, dist::ReduceOp::avg);
    const auto b0 = std::chrono::steady_clock::now();
    const torch::Tensor loss = terms.total / static_cast<double>(options_.grad_accum);
    if (cache)
      cached_backward(tensors, cached, loss, last);
    else
      loss.backward();
    faults_.slow_down(comm_.rank(), b0);
    s.forward_seconds += std::chrono::duration<double>(f1 - f0).count();
    s.backward_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - f1).count();
    s.windows += micro_batches[k].samples.size();
    s.tokens += micro_batches[k].tokens();
  }
  s.compute_seconds = s.forward_seconds + s.backward_seconds - (comm_.seconds_waiting() - waited_before);
  data_parallel_->finish();
  return logged_work;
}

bool Trainer::skip_if_nonfinite(StepStats& s) {
  // The gradient norm is global and the loss all-reduced: every rank takes the same decision.
  if (std::isfinite(s.grad_norm) && std::isfinite(s.loss)) {
    consecutive_skips_ = 0;
    return false;
  }
  s.skipped = true;
  ++consecutive_skips_;
  const std::string what = fmt::format("loss {} / gradient norm {} at step {}", s.loss, s.grad_norm, step_ + 1);
  if (options_.nonfinite == "stop")
    throw Error("non-finite " + what + " (train.nonfinite=stop)", "train step " + std::to_string(step_ + 1),
                "finite losses; lower train.lr, check the data, or train.nonfinite=skip");
  if (consecutive_skips_ > options_.max_consecutive_skips)
    throw Error(fmt::format("non-finite loss or gradient for {} consecutive steps, last {}", consecutive_skips_, what),
                "train step " + std::to_string(step_ + 1), "finite losses; lower train.lr or check the data");
  spdlog::warn("skipping the update of step {}: non-finite {}", step_ + 1, what);
  return true;
}

}  // namespace rslicer::train
