// rslicer embed: each rank embeds its share of the windows (round robin), writes a partial file; rank 0 merges
// them and checks that every window is there exactly once.
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <set>

#include "cli/post_training.h"
#include "cli/post_training_config.h"
#include "core/error.h"
#include "data/serializer.h"
#include "data/serializer_record.h"
#include "data/tokenizer.h"
#include "dist/mpi_context.h"
#include "model/autocast.h"
#include "model/release.h"
#include "train/pretrain.h"
#include "train/trainer.h"
#include "tuning/embeddings.h"
#include "tuning/split.h"

namespace fs = std::filesystem;

namespace rslicer::cli {

namespace {

void copy_rows(tuning::Matrix& m, const torch::Tensor& t) {
  auto c = t.detach().to(torch::kFloat32).contiguous();
  if (m.cols == 0) m.cols = static_cast<std::size_t>(c.size(1));
  m.data.insert(m.data.end(), c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  m.rows += static_cast<std::size_t>(c.size(0));
}

// Per window of `store`: whether its component texts are embedded: abnormal windows, every `normal_stride`-th
// window, and the `before_fault` windows before each abnormal run (the reference FL compares a fault with; a deployed
// system embeds its last minutes when an alarm fires).
std::vector<bool> windows_with_components(const data::WindowStoreReader& store, std::size_t normal_stride,
                                          std::size_t before_fault) {
  const auto& windows = store.windows();
  std::vector<bool> chosen(windows.size(), false);
  std::size_t until = 0;  // windows below this index are within before_fault of a later abnormal one
  for (std::size_t w = windows.size(); w-- > 0;) {
    if (windows[w].label == 1) until = w;
    const bool before = until > w && until - w <= before_fault;
    chosen[w] = windows[w].label == 1 || w % normal_stride == 0 || before;
  }
  return chosen;
}

// The model over batches of the three modality texts (fp32 outputs, on CPU).
model::Encoded encode_texts(model::RuntimeSlicer& model, const data::Tokenizer& tok, const std::vector<std::string>& m,
                            const std::vector<std::string>& t, const std::vector<std::string>& l,
                            std::size_t max_tokens, model::Precision precision) {
  return model->encode(train::to_tensors(tok.encode_batch(m, max_tokens)), train::to_tensors(tok.encode_batch(t, max_tokens)),
                       train::to_tensors(tok.encode_batch(l, max_tokens)), precision, torch::kCPU);
}

// e_m, e_t and e_l side by side, each unit length (EmbeddingSet::comp_modalities).
torch::Tensor modalities_side_by_side(const model::Encoded& e) {
  namespace F = torch::nn::functional;
  const auto unit = [](const torch::Tensor& x) { return F::normalize(x, F::NormalizeFuncOptions().dim(1)); };
  return torch::cat({unit(e.e_m), unit(e.e_t), unit(e.e_l)}, 1);
}

// Pod-level embeddings of each component's three modality texts, appended to `out.comp`: "state" is the model's
// state embedding z over them, as for a whole window (every modality gets its own budget, and the fusion the model
// learnt), with the modality embeddings it fused in `out.comp_modalities`; "text" the backbone's embedding of the
// three texts concatenated (cut at max_tokens).
void embed_components(model::RuntimeSlicer& model, const data::Tokenizer& tok,
                      const std::vector<data::ModalityTexts>& texts, const std::string& mode, std::size_t max_tokens,
                      std::size_t chunk, model::Precision precision, tuning::EmbeddingSet& out) {
  for (std::size_t c0 = 0; c0 < texts.size(); c0 += chunk) {
    const std::size_t c1 = std::min(texts.size(), c0 + chunk);
    std::vector<std::string> m, t, l, joined;
    for (std::size_t k = c0; k < c1; ++k) {
      if (mode == "state") {
        m.push_back(texts[k].metrics);
        t.push_back(texts[k].traces);
        l.push_back(texts[k].logs);
      } else {
        joined.push_back(texts[k].metrics + texts[k].traces + texts[k].logs);
      }
    }
    if (mode == "state") {
      const model::Encoded e = encode_texts(model, tok, m, t, l, max_tokens, precision);
      copy_rows(out.comp, e.z);
      copy_rows(out.comp_modalities, modalities_side_by_side(e));
    } else {
      auto tb = train::to_tensors(tok.encode_batch(joined, max_tokens));
      copy_rows(out.comp, model->model->embed(tb.ids, tb.mask, model->mrl_dim));
    }
  }
}

// Embedding with other serializer options than the release was pre-trained with is allowed (ablations), but said.
void warn_of_other_texts(const model::ReleaseInfo& info, const data::SerializerOptions& shown, const std::string& release) {
  const auto summary = nlohmann::json::parse(info.summary_json, nullptr, false);
  if (summary.is_discarded() || !summary.contains("serializer")) return;
  for (const auto& difference : data::serializer_differences(summary["serializer"], shown))
    spdlog::warn("embedding texts unlike pre-training's: {} (embed.serializer.* against the loader.serializer.* of {})",
                 difference, release);
}

// The model an embedding run uses: a release, or the untrained backbone (the baseline) from model.* and the seed;
// how it computes (packing, fused attention) from the config.
model::RuntimeSlicer embedding_model(const EmbedConfig& c, const config::Config& model_cfg) {
  model::ReleaseInfo info;
  model::RuntimeSlicer model = c.release ? model::load_release(*c.release, &info) : train::build_model(model_cfg, c.seed);
  if (c.release) warn_of_other_texts(info, c.serializer, *c.release);
  model->eval();
  model->model->pack_sequences = c.pack_sequences;
  model::apply_fused_attention(*model->model, c.fused_attention);
  spdlog::info("embedding with {}",
               c.release ? *c.release : "the untrained backbone (baseline, seed " + std::to_string(c.seed) + ")");
  return model;
}

// The stores to embed, and the rows of the embeddings file that name them and their call graphs.
struct EmbedStores {
  std::vector<std::shared_ptr<const data::WindowStoreReader>> readers;
  std::vector<std::unique_ptr<data::WindowSerializer>> serializers;
  std::vector<std::vector<bool>> with_components;  // per store and window
  std::size_t windows = 0;
};

// Each store's serializer reads the labels of its split's tuning side at most (its metric baseline), and the file
// records how many windows' labels it read, so that no later step tests one of them.
EmbedStores open_embed_stores(const EmbedConfig& c, const data::Tokenizer& tok, tuning::EmbeddingSet& out) {
  EmbedStores s;
  for (const auto& p : c.stores) s.readers.push_back(std::make_shared<const data::WindowStoreReader>(p));
  const std::vector<std::size_t> tuning_windows = tuning::training_prefix(tuning::window_rows(s.readers), c.split);
  for (std::size_t k = 0; k < s.readers.size(); ++k) {
    const auto& store = *s.readers[k];
    out.stores.push_back(c.stores[k]);
    out.systems.push_back(store.meta().system);
    s.windows += store.windows().size();
    s.with_components.push_back(windows_with_components(store, c.normal_stride, c.before_fault));
    s.serializers.push_back(std::make_unique<data::WindowSerializer>(store, tok, c.serializer, tuning_windows[k]));
    out.baseline_label_windows.push_back(static_cast<std::int64_t>(s.serializers.back()->metric_baseline().label_windows));
    for (const auto& [caller, callee] : s.serializers.back()->edge_baseline().calls()) {
      out.call_store.push_back(static_cast<std::int32_t>(out.stores.size() - 1));
      out.call_caller.push_back(caller);
      out.call_callee.push_back(callee);
    }
  }
  return s;
}

// This rank's windows, (store, window): global index i (over the stores in order) with i % world == rank.
std::vector<std::pair<std::size_t, std::size_t>> windows_of_rank(const EmbedStores& s, const dist::MpiContext& mpi) {
  std::vector<std::pair<std::size_t, std::size_t>> mine;
  std::size_t global = 0;
  for (std::size_t k = 0; k < s.readers.size(); ++k)
    for (std::size_t w = 0; w < s.readers[k]->windows().size(); ++w, ++global)
      if (static_cast<int>(global % static_cast<std::size_t>(mpi.world_size())) == mpi.rank()) mine.emplace_back(k, w);
  return mine;
}

// A window's row of the embeddings file (without its embeddings).
void append_window_row(const data::WindowStoreReader& store, std::size_t s, std::size_t w, tuning::EmbeddingSet& out) {
  const data::Window& win = store.windows()[w];
  out.store.push_back(static_cast<std::int32_t>(s));
  out.window.push_back(static_cast<std::int32_t>(w));
  out.begin_ns.push_back(win.begin_ns);
  out.label.push_back(win.label);
  out.regime.push_back(win.regime);
  out.fault.push_back(win.fault);
  const data::Fault* f = win.fault >= 0 ? &store.faults().at(static_cast<std::size_t>(win.fault)) : nullptr;
  out.fault_type.push_back(f ? f->type : std::int16_t{-1});
  out.root_cause.push_back(f ? f->root_cause : -1);
  out.root_service.push_back(f && f->root_cause >= 0 ? store.components().at(static_cast<std::size_t>(f->root_cause)).service : -1);
}

// Embeds this rank's windows (and their pods' texts where chosen) in batches, with a progress line on rank 0.
void embed_windows(model::RuntimeSlicer& model, const data::Tokenizer& tok, const EmbedConfig& c, const EmbedStores& stores,
                   const std::vector<std::pair<std::size_t, std::size_t>>& mine, const dist::MpiContext& mpi,
                   tuning::EmbeddingSet& out) {
  const auto start = std::chrono::steady_clock::now();
  std::size_t comp_rows = 0;
  const std::size_t max_tokens = c.serializer.max_tokens;
  for (std::size_t b0 = 0; b0 < mine.size(); b0 += c.batch_size) {
    std::vector<std::string> m, t, l;
    std::vector<data::ModalityTexts> comp_texts;
    std::vector<std::pair<std::int64_t, const data::Component*>> comp_meta;
    for (std::size_t i = b0; i < std::min(mine.size(), b0 + c.batch_size); ++i) {
      const auto [s, w] = mine[i];
      const auto& store = *stores.readers[s];
      const data::Window& win = store.windows()[w];
      data::WindowData events = store.read_window(w);
      auto texts = stores.serializers[s]->serialize(win, events);
      m.push_back(texts.metrics);
      t.push_back(texts.traces);
      l.push_back(texts.logs);
      const auto row = static_cast<std::int64_t>(out.size());
      append_window_row(store, s, w, out);
      if (!c.components || !stores.with_components[s][w]) continue;
      for (const auto& comp : store.components()) {
        if (comp.kind != data::ComponentKind::pod) continue;
        comp_texts.push_back(stores.serializers[s]->serialize_component(win, events, comp.id));
        comp_meta.emplace_back(row, &comp);
      }
    }
    const model::Encoded e = encode_texts(model, tok, m, t, l, max_tokens, c.precision);
    copy_rows(out.z, e.z);
    copy_rows(out.e_m, e.e_m);
    copy_rows(out.e_t, e.e_t);
    copy_rows(out.e_l, e.e_l);
    embed_components(model, tok, comp_texts, c.component_embedding, max_tokens, c.batch_size * 2, c.precision, out);
    for (const auto& [row, comp] : comp_meta) {
      out.comp_row.push_back(row);
      out.comp_id.push_back(comp->id);
      out.comp_service.push_back(comp->service);
    }
    comp_rows += comp_texts.size();
    const std::size_t done = std::min(mine.size(), b0 + c.batch_size);
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (mpi.is_root() && (b0 / c.batch_size) % 10 == 0)
      spdlog::info("embed {}/{} windows on rank 0 ({} component texts) | {:.1f} windows/s | ETA {:.0f}s", done,
                   mine.size(), comp_rows, done / elapsed, (mine.size() - done) / std::max(done / elapsed, 1e-9));
  }
}

// Rank 0 merges the ranks' partial files into `path`, checking that every window is there exactly once; returns
// the component texts embedded.
std::size_t merge_partials(const fs::path& path, std::size_t windows, const dist::MpiContext& mpi) {
  tuning::EmbeddingSet merged = tuning::EmbeddingSet::read(path.string() + ".rank0");
  for (int r = 1; r < mpi.world_size(); ++r) merged.append(tuning::EmbeddingSet::read(path.string() + ".rank" + std::to_string(r)));
  std::set<std::pair<int, int>> seen;
  for (std::size_t i = 0; i < merged.size(); ++i) seen.insert({merged.store[i], merged.window[i]});
  if (merged.size() != windows || seen.size() != windows)
    throw Error(fmt::format("merged {} rows ({} distinct) for {} windows", merged.size(), seen.size(), windows),
                path.string(), "every window exactly once");
  merged.write(path);
  for (int r = 0; r < mpi.world_size(); ++r) fs::remove(path.string() + ".rank" + std::to_string(r));
  return merged.comp_row.size();
}

}  // namespace

void run_embed(const JobContext& ctx) {
  const EmbedConfig c = read_embed_config(ctx.cfg);
  const auto& mpi = ctx.mpi;
  torch::NoGradGuard no_grad;
  torch::set_num_threads(c.intra_op_threads);
  train::apply_allocator_policy_from_config(ctx.cfg, "embed.allocator");
  model::RuntimeSlicer model = embedding_model(c, ctx.cfg.sub("model"));
  const data::Tokenizer tok = data::Tokenizer::from_file(train::tokenizer_path_from_config(ctx.cfg.sub("model")));
  tuning::EmbeddingSet out;
  const EmbedStores stores = open_embed_stores(c, tok, out);
  const auto start = std::chrono::steady_clock::now();
  embed_windows(model, tok, c, stores, windows_of_rank(stores, mpi), mpi, out);

  const fs::path path = c.out;
  fs::create_directories(path.parent_path().empty() ? fs::path(".") : path.parent_path());
  out.write(path.string() + ".rank" + std::to_string(mpi.rank()));
  mpi.barrier();
  if (mpi.is_root()) {
    const std::size_t components = merge_partials(path, stores.windows, mpi);
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    spdlog::info("embedded {} windows ({} component texts) on {} rank(s) in {:.1f}s ({:.1f} windows/s): {}",
                 stores.windows, components, mpi.world_size(), elapsed, stores.windows / elapsed, path.string());
  }
  mpi.barrier();
}

}  // namespace rslicer::cli
