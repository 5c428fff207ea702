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
  for (std::int64_t i = 0; i < n; ++i) t.labels[i] = static_cast<std::int64_t>(batch.labels[static_cast<std::size_t>(i)]);
  // An even split keeps the losses' plain (equal-count) gathers.
  const auto& split = batch.rank_windows;
  if (std::adjacent_find(split.begin(), split.end(), std::not_equal_to<>()) != split.end()) t.rows_per_rank = split;
  return t;
}

Trainer::Trainer(model::RuntimeSlicer model, dist::Communicator& comm, TrainOptions options, FaultInjector faults)
    : model_(std::move(model)), comm_(comm), options_(options), faults_(faults) {
  if (options_.grad_accum < 1) throw ConfigError("grad_accum must be >= 1", "train.grad_accum", "a positive integer");
  std::vector<std::string> names;
  for (const auto& item : model_->named_parameters())
    if (item.value().requires_grad()) {
      names.push_back(item.key());
      params_.push_back(item.value());
    }
  if (options_.learnable_temperature) {
    logit_scale_ = torch::full({}, std::log(1.0 / options_.loss.temperature), torch::requires_grad());
    names.push_back("loss.logit_scale");
    params_.push_back(logit_scale_);
  }
  const int world = comm_.world_size();
  flat_ = std::make_unique<FlatParameters>(names, params_, world);
  zero1_ = options_.zero1 && world > 1;
  const auto rank = static_cast<std::size_t>(comm_.rank());
  optimizer_ = std::make_unique<FlatAdamW>(zero1_ ? flat_->partition()[rank] : 0,
                                           zero1_ ? flat_->partition()[rank + 1] : flat_->numel(),
                                           flat_->params().device(), options_.optimizer_kernel);
  std::vector<torch::Tensor> reduced = params_;
  const std::string embedding = "model.embed_tokens.weight";
  if (options_.sparse_embedding && flat_->find(embedding) >= 0) {
    sparse_entry_ = flat_->find(embedding);
    model_->model->embed_tokens->options.sparse(true);  // autograd gives a sparse COO gradient
    reduced.erase(reduced.begin() + sparse_entry_);     // reduced as rows, not by the bucketed reducer
  }
  // With ZeRO-1 a rank steps only its slice, so it needs only that slice's averaged gradient: the reducer
  // reduce-scatters straight into the flat gradient buffer instead of all-reducing every element.
  std::optional<dist::GradientPartition> partition;
  if (zero1_) {
    partition.emplace();
    for (std::size_t i = 0; i < params_.size(); ++i)
      if (static_cast<std::int64_t>(i) != sparse_entry_) partition->offsets.push_back(flat_->entries()[i].offset);
    partition->partition = flat_->partition();
    partition->flat_grads = flat_->grads();
  }
  reducer_ = std::make_unique<dist::GradientReducer>(reduced, comm_, options_.reducer, std::move(partition));
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
  losses::LossInputs in{e.e_m, e.e_t, e.e_l, e.z, b.begin_ns, b.end_ns, b.labels, logit_scale_, b.rows_per_rank};
  return losses::runtime_slicer_loss(in, comm_, options_.loss);
}

losses::LossTerms Trainer::forward_loss(const BatchTensors& b) {
  check_rows_per_rank(b);
  // This trainer runs on the CPU; the losses take fp32.
  const auto e0 = std::chrono::steady_clock::now();
  const model::Encoded e = model_->encode(b.metrics, b.traces, b.logs, options_.precision, torch::kCPU);
  faults_.slow_down(comm_.rank(), e0);
  return loss_of(e, b);
}

ChunkedInputs Trainer::chunked(const BatchTensors& b) const {
  return {b.metrics, b.traces, b.logs, options_.cached_chunk_windows, options_.precision, torch::kCPU};
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
  reducer_->prepare(false);
  torch::Tensor temperature_grad;
  const model::Encoded grads = embedding_gradients(loss, cached.leaves, logit_scale_, temperature_grad);
  backward_through_chunks(model_, chunked(b), cached, grads,
                          [&](bool last_chunk) { reducer_->prepare(reduce && last_chunk); }, logit_scale_,
                          temperature_grad);
}

losses::LossTerms Trainer::evaluate(const data::Batch& batch) {
  torch::NoGradGuard no_grad;
  model_->eval();
  auto terms = forward_loss(to_tensors(batch));
  model_->train();
  // Mean over ranks: the global batch's loss.
  torch::Tensor values = torch::stack({terms.total, terms.modal, terms.temporal, terms.anomaly}).contiguous();
  comm_.allreduce(values, dist::ReduceOp::avg)->wait();
  return {values[0], values[1], values[2], values[3]};
}

StepStats Trainer::step(const std::vector<data::Batch>& micro_batches) {
  if (static_cast<std::int64_t>(micro_batches.size()) != options_.grad_accum)
    throw Error("step got " + std::to_string(micro_batches.size()) + " micro-batches", "train::Trainer",
                std::to_string(options_.grad_accum) + " (train.grad_accum)");
  const auto t0 = std::chrono::steady_clock::now();
  const double wait_before = reducer_->seconds_waiting();
  StepStats s;
  s.step = step_;
  s.lr = lr_at(step_);
  torch::Tensor logged = torch::zeros({4});  // total, modal, temporal, anomaly: the global batch's mean
  const std::shared_ptr<dist::Work> logged_work = forward_backward(micro_batches, s, logged);
  const auto o0 = std::chrono::steady_clock::now();
  ReducedGradient g = reduce_gradient();
  s.grad_norm = std::sqrt(g.squared_norm);
  logged_work->wait();
  s.loss = logged[0].item<double>();
  if (!skip_if_nonfinite(s)) {
    float clip_scale = 1.0f;
    if (options_.grad_clip > 0 && s.grad_norm > options_.grad_clip)
      clip_scale = static_cast<float>(options_.grad_clip / (s.grad_norm + 1e-6));
    optimizer_->begin_update({s.lr, 0.9, 0.999, options_.adam_eps, options_.weight_decay}, clip_scale);
    torch::NoGradGuard no_grad;
    if (sparse_entry_ >= 0)
      update_with_sparse_embedding(g.rows, g.owned);
    else
      update_dense();
  }
  ++step_;
  s.optimizer_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - o0).count();
  s.modal = logged[1].item<double>();
  s.temporal = logged[2].item<double>();
  s.anomaly = logged[3].item<double>();
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  s.comm_wait_seconds = reducer_->seconds_waiting() - wait_before;
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
    reducer_->prepare(last);
    const auto f0 = std::chrono::steady_clock::now();
    const BatchTensors tensors = to_tensors(micro_batches[k]);
    CachedEmbeddings cached;
    auto terms = cache ? cached_forward_loss(tensors, cached) : forward_loss(tensors);
    terms.total = faults_.on_loss(step_, terms.total);
    faults_.after_forward(comm_.rank(), step_);
    const auto f1 = std::chrono::steady_clock::now();
    logged += torch::stack({terms.total, terms.modal, terms.temporal, terms.anomaly}).detach() /
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
  reducer_->finish();
  return logged_work;
}

Trainer::ReducedGradient Trainer::reduce_gradient() {
  ReducedGradient g;
  // The rows' exchange: with ZeRO-1 each rank gets only the rows of its slice (RowsToOwners), else every rank
  // gets all rows (RowsExchange). Either starts with a round of counts that goes on while the dense part is read.
  std::optional<RowsExchange> exchange;
  std::optional<RowsToOwners> to_owners;
  const bool exchange_rows = sparse_entry_ >= 0 && comm_.world_size() > 1;
  if (sparse_entry_ >= 0) {
    torch::Tensor& grad = params_[static_cast<std::size_t>(sparse_entry_)].mutable_grad();
    const FlatEntry& e = flat_->entries()[static_cast<std::size_t>(sparse_entry_)];
    g.rows = grad.defined() ? coalesce_rows(grad)
                            : SparseRows{torch::empty({0}, torch::kInt64), torch::empty({0, e.shape[1]}, torch::kFloat32)};
    grad = torch::Tensor();
    if (exchange_rows && zero1_)
      to_owners.emplace(g.rows, e.offset, flat_->partition(), comm_);
    else if (exchange_rows)
      exchange.emplace(g.rows, comm_);
  }
  // With ZeRO-1 the reducer wrote this rank's slice of the averaged gradient into the flat buffer; the rest of it
  // is never read. Without, every rank has the whole averaged gradient in .grad.
  if (!zero1_) flat_->collect_grads(sparse_entry_);
  // The norm (and the clipping factor) is the global one on every rank: the squares of the averaged gradient
  // over the optimizer's range (all of it, or this rank's slice with ZeRO-1, whose sums are then summed
  // over ranks), the embedding's rows counted by their elements in that range (rows come separately when the
  // embedding's gradient is sparse). Squares summed by BLAS dot products: one pass, no temporary.
  const auto sum_of_squares = [](const torch::Tensor& x) {
    const torch::Tensor flat = x.reshape({-1});
    return flat.numel() == 0 ? 0.0 : torch::dot(flat, flat).item<double>();
  };
  const std::int64_t moments_begin = optimizer_->begin(), moments_end = optimizer_->end();
  const auto squares_within = [&](std::int64_t begin, std::int64_t end) {
    return begin < end ? sum_of_squares(flat_->grads().narrow(0, begin, end - begin)) : 0.0;
  };
  if (sparse_entry_ >= 0) {
    const FlatEntry& e = flat_->entries()[static_cast<std::size_t>(sparse_entry_)];
    g.squared_norm = squares_within(moments_begin, std::min(moments_end, e.offset)) +
                     squares_within(std::max(moments_begin, e.offset + e.numel), moments_end);
    if (to_owners) g.rows = sum_gathered_rows(to_owners->finish());
    if (exchange) g.rows = sum_gathered_rows(exchange->finish());
    const RowsWithin within = rows_within(g.rows, e.offset, moments_begin, moments_end);
    g.squared_norm += within.squares;
    g.owned.rows = within.rows;
    g.owned.elements = within.elements;
  } else {
    g.squared_norm = squares_within(moments_begin, moments_end);
  }
  if (zero1_) {
    // One all-gather gives every rank the slices' squares and what each rank will send after its update.
    torch::Tensor mine = torch::tensor({g.squared_norm, static_cast<double>(g.owned.rows),
                                        static_cast<double>(g.owned.elements)}, torch::kFloat64);
    torch::Tensor all = torch::empty({3 * comm_.world_size()}, torch::kFloat64);
    comm_.allgather(mine, all)->wait();
    g.squared_norm = 0;
    for (int r = 0; r < comm_.world_size(); ++r) {
      g.squared_norm += all[3 * r].item<double>();
      g.owned.rows_per_rank.push_back(static_cast<std::int64_t>(all[3 * r + 1].item<double>()));
      g.owned.elements_per_rank.push_back(static_cast<std::int64_t>(all[3 * r + 2].item<double>()));
    }
  }
  return g;
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

void Trainer::update_dense() {
  optimizer_->update_range(flat_->params(), flat_->grads(), optimizer_->begin(), optimizer_->end());
  if (zero1_) {
    // Each rank's updated chunk is at its place in the flat buffer already (chunks are equal thanks to padding):
    // an in-place all-gather fills in the others', with no copy of the chunk out or back.
    const std::vector<std::int64_t> chunks(static_cast<std::size_t>(comm_.world_size()), flat_->chunk());
    comm_.allgather_in_place(flat_->params(), chunks)->wait();
  }
}

void Trainer::update_with_sparse_embedding(const SparseRows& rows, const OwnedRows& owned) {
  const FlatEntry& e = flat_->entries()[static_cast<std::size_t>(sparse_entry_)];
  const std::int64_t e0 = e.offset, e1 = e.offset + e.numel, width = e.shape[1];
  const std::int64_t moments_begin = optimizer_->begin(), moments_end = optimizer_->end();
  // Dense AdamW on this rank's range outside the embedding, lazy AdamW on the embedding rows touched.
  const std::pair<std::int64_t, std::int64_t> dense_ranges[] = {{moments_begin, std::min(moments_end, e0)},
                                                               {std::max(moments_begin, e1), moments_end}};
  std::vector<std::shared_ptr<dist::Work>> outside_embedding;  // ZeRO-1: its all-gathers
  for (const auto& [a, b] : dense_ranges)
    if (a < b) optimizer_->update_range(flat_->params(), flat_->grads(), a, b);
  if (zero1_) {
    // Outside the embedding each rank's updated part is at its place in the flat buffer, and the parts lie in rank
    // order (the partition is contiguous): an in-place all-gather of each side of the embedding fills in the
    // others'. It goes out before the rows are updated; the rows follow it.
    for (const auto& [a, b] : {std::pair<std::int64_t, std::int64_t>{0, e0}, {e1, flat_->numel()}}) {
      if (a >= b) continue;  // the same on every rank
      torch::Tensor side = flat_->params().narrow(0, a, b - a);
      outside_embedding.push_back(comm_.allgather_in_place(side, dist::parts_within(flat_->partition(), a, b)));
    }
  }
  optimizer_->update_rows(flat_->params(), e0, rows);
  if (!zero1_) return;
  float* params = flat_->params().data_ptr<float>();
  // The touched rows: a rank has only the rows of its slice (RowsToOwners), so it sends their ids with their
  // elements in its slice, in row order; every rank's counts came with the gradient norm's all-gather. Two
  // all-gathers with exact counts (ids, values) give everyone the new values: a few MB instead of the whole
  // embedding. (The rows of real telemetry are mostly low token ids, all in rank 0's slice: padding every part to
  // the largest would move up to W times the bytes.)
  const auto& partition = flat_->partition();
  auto for_each_part = [&](int rank, const std::int64_t* ids, std::int64_t n, auto&& fn) {  // fn(flat_begin, count)
    const std::int64_t lo = partition[static_cast<std::size_t>(rank)], hi = partition[static_cast<std::size_t>(rank) + 1];
    for (std::int64_t i = 0; i < n; ++i) {
      const RowPart part = row_within(e0, width, ids[i], lo, hi);
      if (part.count > 0) fn(part.first, part.count);
    }
  };
  const int world = comm_.world_size(), me = comm_.rank();
  const std::vector<std::int64_t>& counts = owned.elements_per_rank;
  std::vector<std::int64_t> starts(static_cast<std::size_t>(world)), id_starts(static_cast<std::size_t>(world));
  for (std::size_t r = 1; r < static_cast<std::size_t>(world); ++r) {
    starts[r] = starts[r - 1] + counts[r - 1];
    id_starts[r] = id_starts[r - 1] + owned.rows_per_rank[r - 1];
  }
  // RowsToOwners gave this rank only rows with elements in its slice: all of `rows` changed here.
  const torch::Tensor& my_ids = rows.rows;
  torch::Tensor mine = torch::empty({counts[static_cast<std::size_t>(me)]});
  float* packed = mine.data_ptr<float>();
  for_each_part(me, my_ids.data_ptr<std::int64_t>(), my_ids.size(0), [&](std::int64_t begin, std::int64_t count) {
    packed = std::copy(params + begin, params + begin + count, packed);
  });
  if (packed != mine.data_ptr<float>() + mine.numel())
    throw Error("rank " + std::to_string(me) + " packed " + std::to_string(packed - mine.data_ptr<float>()) + " updated row elements",
                "train::Trainer (ZeRO-1 update)", std::to_string(mine.numel()) + ", the count it announced");
  torch::Tensor all_ids = torch::empty({id_starts.back() + owned.rows_per_rank.back()}, torch::kInt64);
  torch::Tensor everyone = torch::empty({starts.back() + counts.back()}, torch::kFloat32);
  auto ids_work = comm_.allgather(my_ids, all_ids, owned.rows_per_rank);
  auto values_work = comm_.allgather(mine, everyone, counts);
  for (auto& work : outside_embedding) work->wait();
  ids_work->wait();
  values_work->wait();
  for (int r = 0; r < world; ++r) {
    if (r == me) continue;
    const auto at = static_cast<std::size_t>(r);
    const float* from = everyone.data_ptr<float>() + starts[at];
    for_each_part(r, all_ids.data_ptr<std::int64_t>() + id_starts[at], owned.rows_per_rank[at],
                  [&](std::int64_t begin, std::int64_t count) {
                    std::copy(from, from + count, params + begin);
                    from += count;
                  });
  }
}

}  // namespace rslicer::train
