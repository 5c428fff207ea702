#include "data/loader.h"

#include <algorithm>
#include <iterator>
#include <limits>

#include "core/error.h"
#include "core/log.h"
#include "core/mix.h"
#include "data/cpu_affinity.h"

namespace rslicer::data {

std::size_t Batch::tokens() const {
  std::size_t n = 0;
  for (const auto* b : {&metrics, &traces, &logs})
    for (auto m : b->mask) n += static_cast<std::size_t>(m);
  return n;
}

std::vector<std::size_t> window_counts(const std::vector<std::shared_ptr<const WindowStoreReader>>& stores,
                                       const std::vector<std::size_t>& limits) {
  if (!limits.empty() && limits.size() != stores.size())
    throw Error("windows_per_store has " + std::to_string(limits.size()) + " entries for " +
                    std::to_string(stores.size()) + " stores",
                "loader", "one count per store");
  std::vector<std::size_t> counts;
  for (std::size_t s = 0; s < stores.size(); ++s)
    counts.push_back(std::min(stores[s]->windows().size(), limits.empty() ? stores[s]->windows().size() : limits[s]));
  return counts;
}

namespace {

// Offsets that lay the stores' windows one after the other from 0, a second apart (Batch::begin_ns).
std::vector<std::int64_t> disjoint_time_offsets(const std::vector<std::shared_ptr<const WindowStoreReader>>& stores) {
  std::vector<std::int64_t> offsets;
  std::int64_t next = 0;
  for (const auto& store : stores) {
    std::int64_t first = 0, last = 0;
    if (!store->windows().empty()) {
      first = store->windows().front().begin_ns, last = store->windows().front().end_ns;
      for (const auto& w : store->windows()) {
        first = std::min(first, w.begin_ns);
        last = std::max(last, w.end_ns);
      }
    }
    offsets.push_back(next - first);
    next += last - first + 1'000'000'000;
  }
  return offsets;
}

}  // namespace

WindowLoader::WindowLoader(std::vector<std::shared_ptr<const WindowStoreReader>> stores,
                           std::shared_ptr<const Tokenizer> tokenizer, LoaderOptions options, std::uint64_t start_step)
    : stores_(std::move(stores)),
      tokenizer_(std::move(tokenizer)),
      options_(options),
      sampler_(window_counts(stores_, options.windows_per_store), options.cluster_size, options.global_batch, options.seed),
      fault_pairs_(stores_, sampler_.windows_per_store(), options.fault_pairs, options.global_batch, options.seed,
                   options.fault_pair_root_views),
      time_offsets_(disjoint_time_offsets(stores_)),
      next_step_(start_step),
      claim_step_(start_step) {
  if (options_.global_batch % static_cast<std::size_t>(options_.world) != 0)
    throw ConfigError("global batch " + std::to_string(options_.global_batch) + " is not divisible by " +
                          std::to_string(options_.world) + " ranks",
                      "train.global_batch", "a multiple of the world size");
  for (const auto& [step, split] : options_.splits) {
    sampler_.check_split(split, options_.world, "loader splits (from step " + std::to_string(step) + ")");
    splits_.emplace(step, split);
  }
  if (options_.fault_pairs > 0 && fault_pairs_.pairs() == 0)
    spdlog::warn("loader.fault_pairs={}: no fault type has two events in the training windows; batches hold no pairs",
                 options_.fault_pairs);
  // The windows drawn are the stores' tuning side (the split's training prefix): their labels are the metric
  // baseline's to read.
  for (std::size_t k = 0; k < stores_.size(); ++k)
    serializers_.push_back(std::make_unique<WindowSerializer>(*stores_[k], *tokenizer_, options_.serializer,
                                                              sampler_.windows_per_store().at(k)));
  for (std::size_t w = 0; w < options_.workers; ++w) workers_.emplace_back([this] { work(); });
}

WindowLoader::~WindowLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  space_.notify_all();
  ready_.notify_all();
  for (auto& t : workers_) t.join();
}

std::vector<std::int64_t> WindowLoader::split_at_locked(std::uint64_t step) const {
  auto after = splits_.upper_bound(step);
  return after == splits_.begin() ? sampler_.even_split(options_.world) : std::prev(after)->second;
}

std::vector<std::int64_t> WindowLoader::split_at(std::uint64_t step) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return split_at_locked(step);
}

std::map<std::uint64_t, std::vector<std::int64_t>> WindowLoader::splits_from(std::uint64_t step) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (splits_.empty()) return {};
  std::map<std::uint64_t, std::vector<std::int64_t>> out{{step, split_at_locked(step)}};
  for (auto it = splits_.upper_bound(step); it != splits_.end(); ++it) out.insert(*it);
  return out;
}

void WindowLoader::set_split_from(std::uint64_t step, std::vector<std::int64_t> split) {
  sampler_.check_split(split, options_.world, "data::WindowLoader::set_split_from");
  std::lock_guard<std::mutex> lock(mutex_);
  // Workers build at most `prefetch` steps ahead of the trainer: from next_step_ + prefetch on, nothing is built
  // yet, whatever the workers' timing.
  if (step < next_step_ + options_.prefetch)
    throw Error("a split from step " + std::to_string(step) + ", whose batch may be built already", "data::WindowLoader::set_split_from",
                "a step at least next_step() + loader.prefetch (" + std::to_string(next_step_ + options_.prefetch) + ")");
  splits_.erase(splits_.lower_bound(step), splits_.end());
  splits_.emplace(step, std::move(split));
  // Splits that no step still to be handed out reads.
  while (splits_.size() > 1 && std::next(splits_.begin())->first <= next_step_) splits_.erase(splits_.begin());
}

std::vector<SampleRef> WindowLoader::rank_samples(std::uint64_t step, const std::vector<std::int64_t>& split) const {
  auto global = sampler_.global_batch_at(step);
  fault_pairs_.replace_tail(step, global);
  return sampler_.rank_slice(global, options_.rank, split);
}

Batch WindowLoader::build(std::uint64_t step) const { return build_with(step, split_at(step)); }

namespace {

// The pod a sample is shown as (LoaderOptions::component_views), or -1 for the whole window.
std::int32_t pod_view_of(const WindowStoreReader& store, const Window& w, std::uint64_t step, const SampleRef& ref,
                         double share) {
  if (ref.root_view) return store.faults().at(static_cast<std::size_t>(w.fault)).root_cause;
  if (share <= 0) return -1;
  const std::uint64_t h = mix(mix(step) ^ mix((static_cast<std::uint64_t>(ref.store) << 32) | ref.window));
  if (static_cast<double>(h >> 11) * 0x1.0p-53 >= share) return -1;
  std::vector<std::int32_t> pods;
  for (const auto& c : store.components())
    if (c.kind == ComponentKind::pod) pods.push_back(c.id);
  if (pods.empty()) return -1;
  const std::uint64_t h2 = mix(h);
  if (w.label == 1 && w.fault >= 0 && (h2 & 1)) {
    const std::int32_t root = store.faults().at(static_cast<std::size_t>(w.fault)).root_cause;
    if (std::find(pods.begin(), pods.end(), root) != pods.end()) return root;
  }
  return pods[(h2 >> 1) % pods.size()];
}

}  // namespace

Batch WindowLoader::build_with(std::uint64_t step, const std::vector<std::int64_t>& split) const {
  Batch b;
  b.step = step;
  b.samples = rank_samples(step, split);
  b.rank_windows = split;
  std::vector<std::string> metric_texts, trace_texts, log_texts;
  for (const auto& ref : b.samples) {
    const WindowStoreReader& store = *stores_[ref.store];
    const Window& w = store.windows().at(ref.window);
    const std::int32_t pod = pod_view_of(store, w, step, ref, options_.component_views);
    auto texts = pod < 0 ? serializers_[ref.store]->serialize(w, store.read_window(ref.window))
                         : serializers_[ref.store]->serialize_component(w, store.read_window(ref.window), pod);
    metric_texts.push_back(std::move(texts.metrics));
    trace_texts.push_back(std::move(texts.traces));
    log_texts.push_back(std::move(texts.logs));
    if (pod < 0) {
      b.begin_ns.push_back(w.begin_ns + time_offsets_[ref.store]);
      b.end_ns.push_back(w.end_ns + time_offsets_[ref.store]);
      b.labels.push_back(w.label);
    } else {
      // Times of its own, overlapping no other sample: one length-1 interval per sample far before any data.
      const auto own = std::numeric_limits<std::int64_t>::min() / 2 + static_cast<std::int64_t>(b.begin_ns.size()) * 4 +
                       static_cast<std::int64_t>(options_.rank) * 4'000'000;
      b.begin_ns.push_back(own);
      b.end_ns.push_back(own + 1);
      const bool root = w.fault >= 0 && store.faults().at(static_cast<std::size_t>(w.fault)).root_cause == pod;
      b.labels.push_back(w.label != 1 ? w.label : root ? std::int8_t{1} : std::int8_t{-1});
    }
    b.regimes.push_back(w.regime);
    b.fault_types.push_back(w.fault >= 0 ? store.faults().at(static_cast<std::size_t>(w.fault)).type : std::int16_t{-1});
  }
  b.metrics = tokenizer_->encode_batch(metric_texts, options_.serializer.max_tokens);
  b.traces = tokenizer_->encode_batch(trace_texts, options_.serializer.max_tokens);
  b.logs = tokenizer_->encode_batch(log_texts, options_.serializer.max_tokens);
  return b;
}

void WindowLoader::work() {
  if (auto error = pin_current_thread(options_.worker_cpus); !error.empty())
    spdlog::warn("loader worker not pinned: {}", error);  // slower at worst, never wrong
  while (true) {
    std::uint64_t step;
    std::vector<std::int64_t> split;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      space_.wait(lock, [&] { return stop_ || claim_step_ < next_step_ + options_.prefetch; });
      if (stop_) return;
      step = claim_step_++;
      split = split_at_locked(step);
    }
    try {
      Batch b = build_with(step, split);
      std::lock_guard<std::mutex> lock(mutex_);
      done_.emplace(step, std::move(b));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    ready_.notify_all();
  }
}

Batch WindowLoader::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  ready_.wait(lock, [&] { return error_ || done_.count(next_step_); });
  if (error_) std::rethrow_exception(error_);
  Batch b = std::move(done_.at(next_step_));
  done_.erase(next_step_);
  ++next_step_;
  lock.unlock();
  space_.notify_all();
  return b;
}

}  // namespace rslicer::data
