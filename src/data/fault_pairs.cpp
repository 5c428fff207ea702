#include "data/fault_pairs.h"

#include <map>
#include <utility>

#include "core/error.h"
#include "core/mix.h"

namespace rslicer::data {

namespace {

bool is_pod(const WindowStoreReader& store, std::int32_t component) {
  for (const auto& c : store.components())
    if (c.id == component) return c.kind == ComponentKind::pod;
  return false;
}

}  // namespace

FaultPairSampler::FaultPairSampler(const std::vector<std::shared_ptr<const WindowStoreReader>>& stores,
                                   const std::vector<std::size_t>& windows_per_store, std::size_t pairs,
                                   std::size_t global_batch, std::uint64_t seed, bool root_views)
    : pairs_(pairs), seed_(seed), root_views_(root_views) {
  if (pairs == 0) return;
  if (2 * pairs >= global_batch)
    throw ConfigError(std::to_string(pairs) + " fault pairs in a global batch of " + std::to_string(global_batch),
                      "loader.fault_pairs", "fewer than half the global batch (train.global_batch)");
  // type -> (store, fault) -> its abnormal windows, in window order
  std::map<std::int16_t, std::map<std::pair<std::uint32_t, std::int32_t>, std::vector<std::uint32_t>>> found;
  for (std::size_t s = 0; s < stores.size(); ++s) {
    const WindowStoreReader& store = *stores[s];
    for (std::size_t w = 0; w < windows_per_store.at(s); ++w) {
      const Window& win = store.windows().at(w);
      if (win.label != 1 || win.fault < 0) continue;
      const Fault& f = store.faults().at(static_cast<std::size_t>(win.fault));
      if (f.type < 0 || !is_pod(store, f.root_cause)) continue;
      found[f.type][{static_cast<std::uint32_t>(s), win.fault}].push_back(static_cast<std::uint32_t>(w));
    }
  }
  for (auto& [type, events] : found) {
    if (events.size() < 2) continue;
    std::vector<Event> list;
    for (auto& [key, windows] : events) list.push_back({key.first, std::move(windows)});
    types_.push_back(std::move(list));
  }
}

void FaultPairSampler::replace_tail(std::uint64_t step, std::vector<SampleRef>& global_batch) const {
  const std::size_t n = pairs();
  if (n == 0) return;
  std::size_t slot = global_batch.size() - 2 * n;
  std::uint64_t h = mix(mix(seed_ ^ 0x5fa17e5ULL) ^ step);
  auto draw = [&](std::size_t below) {
    h = mix(h);
    return static_cast<std::size_t>(h % below);
  };
  for (std::size_t p = 0; p < n; ++p) {
    const auto& events = types_[draw(types_.size())];
    const std::size_t first = draw(events.size());
    const std::size_t second = (first + 1 + draw(events.size() - 1)) % events.size();  // another event
    for (std::size_t e : {first, second}) {
      const Event& event = events[e];
      global_batch[slot++] = {event.store, event.windows[draw(event.windows.size())], root_views_};
    }
  }
}

}  // namespace rslicer::data
