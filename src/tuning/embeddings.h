// The embeddings file `rslicer embed` writes (HDF5): one row per window (its store, window index, time, label,
// fault type and root cause, ground-truth regime) with the state embedding z and the modality embeddings, plus
// per-component embeddings (pod-level texts) and each store's service call graph for failure localization.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "tuning/matrix.h"

namespace rslicer::tuning {

struct EmbeddingSet {
  std::vector<std::string> stores;  // store paths, indexed by `store`
  std::vector<std::string> systems;
  // per window row
  std::vector<std::int32_t> store, window, regime, root_cause, root_service, fault;
  std::vector<std::int64_t> begin_ns;
  std::vector<std::int8_t> label;
  std::vector<std::int16_t> fault_type;
  Matrix z, e_m, e_t, e_l;
  // per component row: which window row, which component (id in its store) and its service
  std::vector<std::int64_t> comp_row;
  std::vector<std::int32_t> comp_id, comp_service;
  Matrix comp;
  // per component row (component embedding "state" only): the pod's three modality embeddings e_m, e_t, e_l, each
  // unit length, side by side: what each of its texts says, before the fusion weighs them into one state. Fault
  // classification reads them (tune.fc_embedding). Empty in files written before it or with "text".
  Matrix comp_modalities;
  // per service call seen in a store's traces: its store, caller and callee service (component ids in the store);
  // the call graph failure localization reads. Files written before it have none.
  std::vector<std::int32_t> call_store, call_caller, call_callee;
  // Per store: its first windows whose labels its texts' metric baseline read (data::MetricBaseline::label_windows;
  // 0: none). A split may not test them (split_rows). Files written before it have none (not checked).
  std::vector<std::int64_t> baseline_label_windows;

  std::size_t size() const { return store.size(); }
  void write(const std::filesystem::path& path) const;  // atomic
  static EmbeddingSet read(const std::filesystem::path& path);
  // Appends `other`'s rows (same stores and dims) and the calls this set lacks.
  void append(const EmbeddingSet& other);
};

}  // namespace rslicer::tuning
