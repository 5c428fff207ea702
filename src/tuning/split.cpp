#include "tuning/split.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "core/error.h"
#include "core/text.h"

namespace rslicer::tuning {

Split split_rows(const EmbeddingSet& e, const SplitOptions& o) {
  Split s;
  if (o.by == "time") {
    if (!(o.train_fraction > 0 && o.train_fraction < 1))
      throw ConfigError("train_fraction " + std::to_string(o.train_fraction), "split.train_fraction", "a value in (0, 1)");
    std::map<int, std::vector<std::int64_t>> times;
    for (std::size_t r = 0; r < e.size(); ++r) times[e.store[r]].push_back(e.begin_ns[r]);
    std::map<int, std::int64_t> cut;
    for (auto& [store, t] : times) {
      std::sort(t.begin(), t.end());
      cut[store] = t[static_cast<std::size_t>(o.train_fraction * static_cast<double>(t.size()))];
    }
    for (std::size_t r = 0; r < e.size(); ++r) (e.begin_ns[r] < cut[e.store[r]] ? s.train : s.test).push_back(r);
  } else if (o.by == "fault_time") {
    // Each store's fault onsets (the earliest window of each fault approximates it), sorted.
    std::map<int, std::map<int, std::int64_t>> onset;  // store -> fault -> first window begin
    for (std::size_t r = 0; r < e.size(); ++r)
      if (e.fault[r] >= 0) {
        auto& t = onset[e.store[r]].try_emplace(e.fault[r], e.begin_ns[r]).first->second;
        t = std::min(t, e.begin_ns[r]);
      }
    std::map<int, std::int64_t> cut;
    for (auto& [store, faults] : onset) {
      std::vector<std::int64_t> times;
      for (auto& [f, t] : faults) times.push_back(t);
      std::sort(times.begin(), times.end());
      const auto k = static_cast<std::size_t>(std::ceil(o.train_fraction * static_cast<double>(times.size())));
      cut[store] = k < times.size() ? times[k] : std::numeric_limits<std::int64_t>::max();
    }
    for (std::size_t r = 0; r < e.size(); ++r) {
      auto it = cut.find(e.store[r]);
      const bool train = it == cut.end() || e.begin_ns[r] < it->second;
      (train ? s.train : s.test).push_back(r);
    }
  } else if (o.by == "system") {
    for (const auto& sys : o.test_systems)
      if (std::find(e.systems.begin(), e.systems.end(), sys) == e.systems.end())
        throw ConfigError("held-out system '" + sys + "' is not in the embeddings", "split.test_systems",
                          "one of " + join(e.systems, ", "));
    for (std::size_t r = 0; r < e.size(); ++r) {
      const std::string& sys = e.systems.at(static_cast<std::size_t>(e.store[r]));
      const bool test = std::find(o.test_systems.begin(), o.test_systems.end(), sys) != o.test_systems.end();
      (test ? s.test : s.train).push_back(r);
    }
  } else {
    throw ConfigError("unknown split '" + o.by + "'", "split.by", "time, fault_time or system");
  }
  if (s.train.empty() || s.test.empty())
    throw ConfigError("the split leaves " + std::to_string(s.train.size()) + " training and " +
                          std::to_string(s.test.size()) + " test windows",
                      "split", "both sides non-empty");
  return s;
}

}  // namespace rslicer::tuning
