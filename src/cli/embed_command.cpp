// rslicer embed: each rank embeds its share of the windows (round robin), writes a partial file; rank 0 merges
// them and checks that every window is there exactly once.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <set>

#include "cli/post_training.h"
#include "core/error.h"
#include "data/serializer.h"
#include "data/tokenizer.h"
#include "dist/mpi_context.h"
#include "model/autocast.h"
#include "model/release.h"
#include "train/pretrain.h"
#include "train/trainer.h"
#include "tuning/embeddings.h"

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

// Pod-level embeddings of each component's three modality texts, appended to `out`: "state" is the model's state
// embedding z over them, as for a whole window (every modality gets its own budget, and the fusion the model
// learnt); "text" the backbone's embedding of the three texts concatenated (cut at max_tokens).
void embed_components(model::RuntimeSlicer& model, const data::Tokenizer& tok,
                      const std::vector<data::ModalityTexts>& texts, const std::string& mode, std::size_t max_tokens,
                      std::size_t chunk, model::Precision precision, tuning::Matrix& out) {
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
      copy_rows(out, encode_texts(model, tok, m, t, l, max_tokens, precision).z);
    } else {
      auto tb = train::to_tensors(tok.encode_batch(joined, max_tokens));
      copy_rows(out, model->model->embed(tb.ids, tb.mask, model->mrl_dim));
    }
  }
}

}  // namespace

void run_embed(const JobContext& ctx) {
  const auto& cfg = ctx.cfg;
  const auto& mpi = ctx.mpi;
  torch::NoGradGuard no_grad;
  torch::set_num_threads(static_cast<int>(cfg.get_int("embed.intra_op_threads")));
  train::apply_allocator_policy_from_config(cfg, "embed.allocator");
  model::RuntimeSlicer model = cfg.is_null("embed.release")
                                   ? train::build_model(cfg.sub("model"), static_cast<std::uint64_t>(cfg.get_int("seed")))
                                   : model::load_release(cfg.get_string("embed.release"));
  model->eval();
  // How to compute, not what (not in releases):
  model->model->pack_sequences = cfg.get_bool("model.pack_sequences");
  model::apply_fused_attention(*model->model, cfg.get_string("model.fused_attention"));
  const model::Precision precision = model::parse_precision(cfg.get_string("model.precision"));
  spdlog::info("embedding with {}", cfg.is_null("embed.release") ? "the untrained backbone (baseline, seed " +
                                                                       std::to_string(cfg.get_int("seed")) + ")"
                                                                 : cfg.get_string("embed.release"));
  const data::Tokenizer tok = data::Tokenizer::from_file(train::tokenizer_path_from_config(cfg.sub("model")));
  const auto max_tokens = static_cast<std::size_t>(cfg.get_int("embed.max_tokens"));
  const auto batch_size = static_cast<std::size_t>(cfg.get_int("embed.batch_size"));
  const bool components = cfg.get_bool("embed.components.enabled");
  const auto normal_stride = static_cast<std::size_t>(std::max<std::int64_t>(1, cfg.get_int("embed.components.normal_stride")));
  const auto before_fault = static_cast<std::size_t>(std::max<std::int64_t>(0, cfg.get_int("embed.components.before_fault")));

  tuning::EmbeddingSet out;
  std::size_t total = 0;
  std::vector<std::unique_ptr<data::WindowStoreReader>> stores;
  for (const auto& p : cfg.get_string_list("data.stores")) {
    stores.push_back(std::make_unique<data::WindowStoreReader>(p));
    out.stores.push_back(p);
    out.systems.push_back(stores.back()->meta().system);
    total += stores.back()->windows().size();
  }
  // This rank's windows: global index i (over the stores in order) with i % world == rank.
  std::vector<std::pair<std::size_t, std::size_t>> mine;
  std::size_t global = 0;
  for (std::size_t s = 0; s < stores.size(); ++s)
    for (std::size_t w = 0; w < stores[s]->windows().size(); ++w, ++global)
      if (static_cast<int>(global % static_cast<std::size_t>(mpi.world_size())) == mpi.rank()) mine.emplace_back(s, w);

  const std::string component_embedding = cfg.get_string("embed.components.embedding");
  if (component_embedding != "state" && component_embedding != "text")
    throw ConfigError("unknown component embedding '" + component_embedding + "'", "embed.components.embedding",
                      "state or text");
  std::vector<std::vector<bool>> with_components;
  for (const auto& s : stores) with_components.push_back(windows_with_components(*s, normal_stride, before_fault));
  std::vector<std::unique_ptr<data::WindowSerializer>> serializers;
  const data::SerializerOptions serializer_options{max_tokens, cfg.get_bool("embed.serializer.show_time"),
                                                   cfg.get_bool("embed.serializer.mask_event_params"),
                                                   cfg.get_double("embed.serializer.level_z")};
  for (const auto& s : stores)
    serializers.push_back(std::make_unique<data::WindowSerializer>(*s, tok, serializer_options));
  const auto start = std::chrono::steady_clock::now();
  std::size_t done = 0, comp_rows = 0;
  for (std::size_t b0 = 0; b0 < mine.size(); b0 += batch_size) {
    std::vector<std::string> m, t, l;
    std::vector<data::ModalityTexts> comp_texts;
    std::vector<std::pair<std::int64_t, const data::Component*>> comp_meta;
    for (std::size_t i = b0; i < std::min(mine.size(), b0 + batch_size); ++i) {
      const auto [s, w] = mine[i];
      const auto& store = *stores[s];
      const data::Window& win = store.windows()[w];
      data::WindowData events = store.read_window(w);
      auto texts = serializers[s]->serialize(win, events);
      m.push_back(texts.metrics);
      t.push_back(texts.traces);
      l.push_back(texts.logs);
      const std::int64_t row = static_cast<std::int64_t>(out.size());
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
      if (components && with_components[s][w]) {
        for (const auto& c : store.components()) {
          if (c.kind != data::ComponentKind::pod) continue;
          comp_texts.push_back(serializers[s]->serialize_component(win, events, c.id));
          comp_meta.emplace_back(row, &c);
        }
      }
    }
    const model::Encoded e = encode_texts(model, tok, m, t, l, max_tokens, precision);
    copy_rows(out.z, e.z);
    copy_rows(out.e_m, e.e_m);
    copy_rows(out.e_t, e.e_t);
    copy_rows(out.e_l, e.e_l);
    embed_components(model, tok, comp_texts, component_embedding, max_tokens, batch_size * 2, precision, out.comp);
    for (const auto& [row, c] : comp_meta) {
      out.comp_row.push_back(row);
      out.comp_id.push_back(c->id);
      out.comp_service.push_back(c->service);
    }
    comp_rows += comp_texts.size();
    done = std::min(mine.size(), b0 + batch_size);
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (mpi.is_root() && (b0 / batch_size) % 10 == 0)
      spdlog::info("embed {}/{} windows on rank 0 ({} component texts) | {:.1f} windows/s | ETA {:.0f}s", done,
                   mine.size(), comp_rows, done / elapsed, (mine.size() - done) / std::max(done / elapsed, 1e-9));
  }
  const fs::path path = cfg.get_string("out");
  fs::create_directories(path.parent_path().empty() ? fs::path(".") : path.parent_path());
  const fs::path partial = path.string() + ".rank" + std::to_string(mpi.rank());
  out.write(partial);
  mpi.barrier();
  if (mpi.is_root()) {
    tuning::EmbeddingSet merged = tuning::EmbeddingSet::read(path.string() + ".rank0");
    for (int r = 1; r < mpi.world_size(); ++r) merged.append(tuning::EmbeddingSet::read(path.string() + ".rank" + std::to_string(r)));
    std::set<std::pair<int, int>> seen;
    for (std::size_t i = 0; i < merged.size(); ++i) seen.insert({merged.store[i], merged.window[i]});
    if (merged.size() != total || seen.size() != total)
      throw Error(fmt::format("merged {} rows ({} distinct) for {} windows", merged.size(), seen.size(), total),
                  path.string(), "every window exactly once");
    merged.write(path);
    for (int r = 0; r < mpi.world_size(); ++r) fs::remove(path.string() + ".rank" + std::to_string(r));
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    spdlog::info("embedded {} windows ({} component texts) on {} rank(s) in {:.1f}s ({:.1f} windows/s): {}", total,
                 merged.comp_row.size(), mpi.world_size(), elapsed, total / elapsed, path.string());
  }
  mpi.barrier();
}

}  // namespace rslicer::cli
