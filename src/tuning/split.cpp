#include "tuning/split.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <numeric>

#include "core/error.h"
#include "core/text.h"

namespace rslicer::tuning {

SplitOptions split_options(const config::Config& cfg) {
  SplitOptions o;
  o.by = cfg.get_string("split.by");
  o.train_fraction = cfg.get_double("split.train_fraction");
  o.test_systems = cfg.get_string_list("split.test_systems");
  o.test_stores = cfg.get_string_list("split.test_stores");
  return o;
}

EmbeddingSet window_rows(const std::vector<std::shared_ptr<const data::WindowStoreReader>>& stores) {
  EmbeddingSet e;
  for (std::size_t s = 0; s < stores.size(); ++s) {
    e.stores.push_back(stores[s]->path().string());
    e.systems.push_back(stores[s]->meta().system);
    const auto& windows = stores[s]->windows();
    for (std::size_t w = 0; w < windows.size(); ++w) {
      e.store.push_back(static_cast<std::int32_t>(s));
      e.window.push_back(static_cast<std::int32_t>(w));
      e.begin_ns.push_back(windows[w].begin_ns);
      e.label.push_back(windows[w].label);
      e.fault.push_back(windows[w].fault);
    }
  }
  return e;
}

std::vector<std::size_t> training_prefix(const EmbeddingSet& rows, const SplitOptions& options) {
  std::vector<std::size_t> prefix(rows.stores.size(), 0);
  if (options.by == "none") {
    for (auto s : rows.store) ++prefix[static_cast<std::size_t>(s)];
    return prefix;
  }
  const Split split = split_rows(rows, options);
  std::vector<bool> train(rows.size(), false);
  for (auto r : split.train) train[r] = true;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const auto s = static_cast<std::size_t>(rows.store[r]);
    if (!train[r]) continue;
    if (static_cast<std::size_t>(rows.window[r]) != prefix[s])
      throw Error("the training side of split '" + options.by + "' is not a prefix of " + rows.stores[s],
                  "split", "windows in time order (a store written by rslicer ingest or simulate)");
    ++prefix[s];
  }
  return prefix;
}

namespace {
// The texts of a store whose metric baseline read the labels of windows this split tests carry those labels (a
// fault stands out more against the normal windows): embedded with another split (or none) than it is evaluated with.
void check_no_test_labels_read(const EmbeddingSet& e, const Split& s, const SplitOptions& o) {
  if (e.baseline_label_windows.empty()) return;
  for (auto r : s.test) {
    const auto store = static_cast<std::size_t>(e.store[r]);
    if (e.window[r] < e.baseline_label_windows.at(store))
      throw ConfigError("the embeddings of " + e.stores.at(store) + " read the labels of its first " +
                            std::to_string(e.baseline_label_windows[store]) + " windows (the metric baseline), and split '" +
                            o.by + "' tests window " + std::to_string(e.window[r]),
                        "split", "the split the embeddings were made with (rslicer embed split=...)");
  }
}
}  // namespace

Split split_rows(const EmbeddingSet& e, const SplitOptions& o) {
  Split s;
  if (o.by == "none") {  // every window tunes: states and models to deploy on what comes later
    s.train.resize(e.size());
    std::iota(s.train.begin(), s.train.end(), std::size_t{0});
  } else if (o.by == "time") {
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
  } else if (o.by == "store") {
    std::vector<bool> held_out(e.stores.size(), false);
    for (const auto& wanted : o.test_stores) {
      bool found = false;
      for (std::size_t i = 0; i < e.stores.size(); ++i) {
        const std::filesystem::path p(e.stores[i]);
        if (e.stores[i] == wanted || p.filename() == wanted || p.stem() == wanted) held_out[i] = found = true;
      }
      if (!found)
        throw ConfigError("held-out store '" + wanted + "' is not in the embeddings", "split.test_stores",
                          "a path, file name or stem of one of " + join(e.stores, ", "));
    }
    for (std::size_t r = 0; r < e.size(); ++r)
      (held_out.at(static_cast<std::size_t>(e.store[r])) ? s.test : s.train).push_back(r);
  } else {
    throw ConfigError("unknown split '" + o.by + "'", "split.by", "time, fault_time, system, store or none");
  }
  if (s.train.empty() || (s.test.empty() && o.by != "none"))
    throw ConfigError("the split leaves " + std::to_string(s.train.size()) + " training and " +
                          std::to_string(s.test.size()) + " test windows",
                      "split", "both sides non-empty (split=none: every window tunes)");
  check_no_test_labels_read(e, s, o);
  return s;
}

}  // namespace rslicer::tuning
