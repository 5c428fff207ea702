// The Qwen3 backbone and RuntimeSlicer module: parameter counts, each layer against hand-checked math, padding
// invariance, gradients, and the whole forward against an independent Python reference of HF's modeling_qwen3.py.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>

#include "core/error.h"
#include "model/autocast.h"
#include "model/qwen3.h"
#include "model/release.h"
#include "model/runtime_slicer.h"
#include "model/safetensors.h"
#include "test_util.h"

using namespace rslicer;
using namespace rslicer::model;

namespace {

Qwen3Config small_config() {
  Qwen3Config c;
  c.vocab_size = 1000;  // small vocabulary keeps the test fast; the architecture is the tiny one
  c.hidden_size = 64;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.intermediate_size = 96;
  return c;
}

}  // namespace

TEST(Qwen3, ParameterCountOfTheReleasedModel) {
  Qwen3Config c06;
  c06.vocab_size = 151669;
  c06.hidden_size = 1024;
  c06.num_hidden_layers = 28;
  c06.num_attention_heads = 16;
  c06.num_key_value_heads = 8;
  c06.head_dim = 128;
  c06.intermediate_size = 3072;
  EXPECT_EQ(c06.vocab_size * c06.hidden_size, 155309056);
  EXPECT_EQ(c06.parameters_per_layer(), 15730944);
  EXPECT_EQ(c06.parameter_count(), 595776512);
  // The modules hold exactly what the formula counts.
  Qwen3Model m(small_config());
  std::int64_t n = 0;
  for (const auto& p : m->parameters()) n += p.numel();
  EXPECT_EQ(n, small_config().parameter_count());
}

TEST(Qwen3, RmsNormMatchesHandMath) {
  RMSNorm norm(4, 1e-6);
  {
    torch::NoGradGuard g;
    norm->weight.copy_(torch::tensor({1.0f, 2.0f, 0.5f, 1.0f}));
  }
  auto x = torch::tensor({{1.0f, -2.0f, 3.0f, -4.0f}});
  // mean of squares = 30/4 = 7.5
  const float r = 1.0f / std::sqrt(7.5f + 1e-6f);
  auto expected = torch::tensor({{1.0f * r, -4.0f * r, 1.5f * r, -4.0f * r}});
  EXPECT_TRUE(torch::allclose(norm(x), expected, 1e-6, 1e-6));
  // bf16 input: computed in fp32, returned in bf16
  EXPECT_EQ(norm(x.to(torch::kBFloat16)).scalar_type(), torch::kFloat32);  // weight fp32 * bf16 promotes, as HF
}

TEST(Qwen3, RopeRotatesHalvesAndIsRelative) {
  auto [cos, sin] = rope_tables(8, 4, 10000.0, torch::kCPU);
  ASSERT_EQ(cos.sizes(), (std::vector<std::int64_t>{8, 4}));
  // Position 1, pair (0, 2) rotates by inv_freq[0] = 1 rad, pair (1, 3) by 10000^(-1/2) = 0.01 rad.
  EXPECT_NEAR(cos[1][0].item<float>(), std::cos(1.0f), 1e-6);
  EXPECT_NEAR(sin[1][3].item<float>(), std::sin(0.01f), 1e-6);
  auto x = torch::tensor({1.0f, 0.0f, 0.0f, 0.0f}).view({1, 1, 1, 4}).expand({1, 1, 8, 4}).contiguous();
  auto r = apply_rope(x, cos, sin);
  EXPECT_NEAR(r[0][0][1][0].item<float>(), std::cos(1.0f), 1e-6);
  EXPECT_NEAR(r[0][0][1][2].item<float>(), std::sin(1.0f), 1e-6);  // x1 -> x1 cos + x1 sin on the partner
  // <rope(q, i), rope(k, j)> depends only on i - j.
  torch::manual_seed(0);
  auto q = torch::randn({1, 1, 1, 4}).expand({1, 1, 8, 4}).contiguous();
  auto k = torch::randn({1, 1, 1, 4}).expand({1, 1, 8, 4}).contiguous();
  auto rq = apply_rope(q, cos, sin), rk = apply_rope(k, cos, sin);
  auto dot = [&](int i, int j) { return (rq[0][0][i] * rk[0][0][j]).sum().item<float>(); };
  EXPECT_NEAR(dot(5, 2), dot(4, 1), 1e-5);
  EXPECT_NEAR(dot(7, 7), dot(0, 0), 1e-5);
}

TEST(Qwen3, AttentionMaskIsCausalAndHidesPadding) {
  auto mask = attention_mask(torch::tensor({{0, 1, 1}}), torch::kFloat32);
  ASSERT_EQ(mask.sizes(), (std::vector<std::int64_t>{1, 1, 3, 3}));
  const float min = std::numeric_limits<float>::lowest();
  EXPECT_EQ(mask[0][0][2][0].item<float>(), min);  // padding key
  EXPECT_EQ(mask[0][0][2][1].item<float>(), 0.0f);
  EXPECT_EQ(mask[0][0][1][2].item<float>(), min);  // future key
  EXPECT_EQ(mask[0][0][2][2].item<float>(), 0.0f);
}

TEST(Qwen3, EmbeddingsIgnoreLeftPadding) {
  torch::manual_seed(1);
  Qwen3Model m(small_config());
  m->reset_parameters(5);
  auto ids = torch::tensor({{11, 12, 13, 14}});
  auto alone = m->embed(ids, torch::ones_like(ids));
  auto padded = m->embed(torch::tensor({{0, 0, 11, 12, 13, 14}}), torch::tensor({{0, 0, 1, 1, 1, 1}}));
  EXPECT_TRUE(torch::allclose(alone, padded, 1e-5, 1e-5)) << (alone - padded).abs().max();
  EXPECT_NEAR(alone.norm().item<float>(), 1.0f, 1e-5);
  auto mrl = m->embed(ids, torch::ones_like(ids), 16);
  EXPECT_EQ(mrl.size(1), 16);
  EXPECT_NEAR(mrl.norm().item<float>(), 1.0f, 1e-5);
  // Another sequence gives another embedding.
  auto other = m->embed(torch::tensor({{11, 12, 13, 15}}), torch::ones_like(ids));
  EXPECT_GT((alone - other).abs().max().item<float>(), 1e-3);
}

TEST(RuntimeSlicer, EncodesThreeModalitiesInOneCallWithGradients) {
  RuntimeSlicer rs(small_config(), FusionConfig{32, 24, true});
  rs->reset_parameters(3);
  TokenTensors m{torch::tensor({{0, 5, 6}, {7, 8, 9}}), torch::tensor({{0, 1, 1}, {1, 1, 1}})};
  TokenTensors t{torch::tensor({{5, 6}, {1, 2}}), torch::ones({2, 2}, torch::kInt64)};
  TokenTensors l{torch::tensor({{3, 4, 5, 6}, {0, 0, 0, 9}}), torch::tensor({{1, 1, 1, 1}, {0, 0, 0, 1}})};
  Encoded e = rs->encode(m, t, l);
  EXPECT_EQ(e.e_m.sizes(), (std::vector<std::int64_t>{2, 64}));
  EXPECT_EQ(e.z.sizes(), (std::vector<std::int64_t>{2, 24}));
  EXPECT_TRUE(torch::allclose(e.z.norm(2, 1), torch::ones({2}), 1e-5, 1e-5));
  // One batched call equals three separate ones.
  auto alone = rs->model->embed(t.ids, t.mask);
  EXPECT_TRUE(torch::allclose(alone, e.e_t, 1e-5, 1e-5));
  auto g = rs->fusion->gates(e.e_m, e.e_t, e.e_l);
  EXPECT_TRUE(torch::allclose(g.sum(1), torch::full({2}, 3.0f), 1e-5, 1e-5));
  e.z.sum().backward();
  for (const auto& p : rs->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
  }
  EXPECT_GT(rs->model->layers[0]->as<Qwen3DecoderLayer>()->self_attn->q_proj->weight.grad().abs().sum().item<float>(), 0);
  EXPECT_EQ(rs->named_parameters().find("model.layers.1.self_attn.k_norm.weight") != nullptr, true);
}

TEST(Qwen3, ActivationCheckpointingGivesTheSameGradients) {
  // Reference path: the plain forward; fast path: layers recomputed in backward. Same loss, same gradients.
  auto run = [](bool checkpointing) {
    Qwen3Model m(small_config());
    m->reset_parameters(11);
    m->activation_checkpointing = checkpointing;
    auto ids = torch::tensor({{0, 5, 6, 7}, {7, 8, 9, 10}});
    auto mask = torch::tensor({{0, 1, 1, 1}, {1, 1, 1, 1}});
    auto e = m->embed(ids, mask);
    (e * torch::arange(e.numel()).view(e.sizes()).to(torch::kFloat32)).sum().backward();
    std::vector<torch::Tensor> grads;
    for (const auto& p : m->parameters()) grads.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
    return grads;
  };
  auto plain = run(false), recomputed = run(true);
  ASSERT_EQ(plain.size(), recomputed.size());
  float max_diff = 0, max_grad = 0;
  for (std::size_t i = 0; i < plain.size(); ++i) {
    max_diff = std::max(max_diff, (plain[i] - recomputed[i]).abs().max().item<float>());
    max_grad = std::max(max_grad, plain[i].abs().max().item<float>());
  }
  EXPECT_LT(max_diff, 1e-6);
  EXPECT_GT(max_grad, 1e-3);  // gradients exist: the comparison is not vacuous
}

TEST(Qwen3, LastHiddenEqualsTheFullForwardAtTheLastPosition) {
  // Fast path: the last layer evaluates only the pooled positions, and with packing several sequences share a row
  // (block-diagonal attention, positions restarting per sequence); reference path: every position of the
  // left-padded batch, then select the last. Same values and the same gradients for every parameter, with and
  // without activation checkpointing.
  for (bool checkpointing : {false, true}) {
    for (bool packing : {false, true}) {
      auto run = [&](bool fast) {
        Qwen3Model m(small_config());
        m->reset_parameters(5);
        m->activation_checkpointing = checkpointing;
        m->pack_sequences = packing;
        auto ids = torch::tensor({{0, 0, 5, 6, 7}, {7, 8, 9, 10, 11}, {0, 0, 0, 0, 3}, {0, 0, 0, 12, 13}});
        auto mask = torch::tensor({{0, 0, 1, 1, 1}, {1, 1, 1, 1, 1}, {0, 0, 0, 0, 1}, {0, 0, 0, 1, 1}});
        auto last = fast ? m->last_hidden(ids, mask) : m->forward(ids, mask).select(1, 4);
        (last * torch::arange(last.numel()).view(last.sizes()).to(torch::kFloat32)).sum().backward();
        std::vector<torch::Tensor> out{last.detach()};
        for (const auto& p : m->parameters()) out.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
        return out;
      };
      auto full = run(false), fast = run(true);
      ASSERT_EQ(full.size(), fast.size());
      EXPECT_EQ(fast[0].sizes(), (std::vector<std::int64_t>{4, 64}));
      EXPECT_LT((full[0] - fast[0]).abs().max().item<float>(), 1e-5)
          << "hidden states, checkpointing " << checkpointing << ", packing " << packing;
      float max_diff = 0, max_grad = 0;
      for (std::size_t i = 1; i < full.size(); ++i) {
        max_diff = std::max(max_diff, (full[i] - fast[i]).abs().max().item<float>());
        max_grad = std::max(max_grad, full[i].abs().max().item<float>());
      }
      // Relative to the largest gradient: the weights of the sum (0..255) make gradients of order 1e3.
      EXPECT_LT(max_diff, 1e-6 * max_grad)
          << "checkpointing " << checkpointing << ", packing " << packing << ", largest gradient " << max_grad;
      EXPECT_GT(max_grad, 1e-3);
    }
  }
}

TEST(Qwen3, PackedLayoutPutsSeveralSequencesInARowAndComputesNoPadding) {
  auto ids = torch::tensor({{0, 0, 5, 6, 7}, {7, 8, 9, 10, 11}, {0, 0, 0, 0, 3}, {0, 0, 0, 12, 13}});
  auto mask = torch::tensor({{0, 0, 1, 1, 1}, {1, 1, 1, 1, 1}, {0, 0, 0, 0, 1}, {0, 0, 0, 1, 1}});
  auto padded = left_padded_layout(ids, mask);
  auto packed = packed_layout(ids, mask);
  EXPECT_NEAR(padded.padding_fraction, 1.0 - 11.0 / 20.0, 1e-12);
  // Lengths 3, 5, 1, 2 in rows of 5: first fit decreasing gives {5}, {3, 2}, {1}.
  ASSERT_EQ(packed.ids.size(0), 3);
  EXPECT_NEAR(packed.padding_fraction, 1.0 - 11.0 / 15.0, 1e-12);
  EXPECT_TRUE(torch::equal(packed.ids[0], torch::tensor({7, 8, 9, 10, 11})));
  EXPECT_TRUE(torch::equal(packed.ids[1], torch::tensor({5, 6, 7, 12, 13})));
  EXPECT_TRUE(torch::equal(packed.positions[1], torch::tensor({0, 1, 2, 0, 1})));
  // Row 1: the second sequence sees only itself, causally.
  auto allowed = packed.allowed[1][0];
  EXPECT_TRUE(allowed[4][3].item<bool>());
  EXPECT_FALSE(allowed[4][2].item<bool>());
  EXPECT_FALSE(allowed[3][4].item<bool>());
  // Row 2: one token, the rest attend to nothing.
  EXPECT_TRUE(packed.allowed[2][0][0][0].item<bool>());
  EXPECT_FALSE(packed.allowed[2][0][1].any().item<bool>());
  // Pooled: each input sequence reads its own last token.
  auto flat_last = packed.last_index.reshape({-1});
  const auto Q = packed.last_index.size(1);
  for (std::int64_t i = 0; i < 4; ++i) {
    const auto p = packed.pooled[i].item<std::int64_t>();
    const auto row = p / Q, col = flat_last[p].item<std::int64_t>();
    EXPECT_EQ(packed.ids[row][col].item<std::int64_t>(), ids[i][4].item<std::int64_t>()) << "sequence " << i;
  }
}

TEST(Safetensors, RoundTripAndUntrustedHeaders) {
  test::TempDir dir;
  std::vector<float> a = {1, 2, 3, 4, 5, 6};
  std::vector<std::int64_t> b = {7, -8};
  write_safetensors(dir / "t.safetensors", {{"a", DType::F32, {2, 3}, a.data(), 24}, {"b", DType::I64, {2}, b.data(), 16}},
                    {{"format", "pt"}});
  SafetensorsFile f(dir / "t.safetensors");
  ASSERT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.at("a").shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(static_cast<const float*>(f.at("a").data)[5], 6.0f);
  EXPECT_EQ(static_cast<const std::int64_t*>(f.at("b").data)[1], -8);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_THROW(f.at("missing"), rslicer::Error);

  auto write_raw = [&](const std::string& name, const std::string& header, std::size_t data_bytes,
                       std::uint64_t claimed = 0) {
    std::string bytes(8, '\0');
    std::uint64_t n = claimed ? claimed : header.size();
    std::memcpy(bytes.data(), &n, 8);
    bytes += header + std::string(data_bytes, '\0');
    test::write_text(dir / name, bytes);
    return dir / name;
  };
  struct Bad {
    std::string header;
    std::size_t data;
    std::uint64_t claimed;
    const char* fragment;
  };
  for (const Bad& bad : std::vector<Bad>{
           {R"({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 8, 1ULL << 40, "out of bounds"},
           {"{not json", 0, 0, "not a JSON object"},
           {R"({"x": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 8]}})", 8, 0, "unknown dtype"},
           {R"({"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 8, 0, "does not match"},
           {R"({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 16]}})", 8, 0, "outside the data"},
           {R"({"x": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", 8, 0, "negative"},
           {R"({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "y": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", 12, 0, "overlap"},
           {R"({"x": {"dtype": "F32", "shape": [2]}})", 8, 0, "data_offsets"}}) {
    auto path = write_raw("bad.safetensors", bad.header, bad.data, bad.claimed);
    try {
      SafetensorsFile bad_file(path);
      ADD_FAILURE() << "accepted: " << bad.header;
    } catch (const rslicer::Error& e) {
      EXPECT_NE(e.one_line().find(bad.fragment), std::string::npos) << e.one_line();
    }
  }
  test::write_text(dir / "short.safetensors", "abc");
  EXPECT_THROW(SafetensorsFile(dir / "short.safetensors"), rslicer::Error);
}

TEST(Qwen3, MatchesAnIndependentPythonReferenceOfHfQwen3) {
  if (std::system("/usr/bin/python3 -c 'import torch, numpy' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "Debian's /usr/bin/python3 with python3-torch and python3-numpy is not installed";
  test::TempDir dir;
  Qwen3Config c = small_config();
  RuntimeSlicer rs(c, FusionConfig{});
  rs->reset_parameters(42);
  // Weights as safetensors (our writer), HF names.
  std::vector<torch::Tensor> keep;
  std::vector<TensorToWrite> tensors;
  for (const auto& p : rs->named_parameters()) {
    if (p.key().rfind("model.", 0) != 0) continue;
    keep.push_back(p.value().detach().contiguous());
    tensors.push_back({p.key(), DType::F32, keep.back().sizes().vec(), keep.back().data_ptr(),
                       static_cast<std::size_t>(keep.back().numel()) * 4});
  }
  write_safetensors(dir / "w.safetensors", tensors);
  auto ids = torch::tensor({{0, 0, 17, 250, 3, 999}, {5, 6, 7, 8, 9, 10}, {0, 0, 0, 0, 0, 42}});
  auto mask = torch::tensor({{0, 0, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1}, {0, 0, 0, 0, 0, 1}});
  nlohmann::json input = {{"config", nlohmann::json::parse(c.to_json())}, {"ids", {{0, 0, 17, 250, 3, 999}, {5, 6, 7, 8, 9, 10}, {0, 0, 0, 0, 0, 42}}},
                          {"mask", {{0, 0, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1}, {0, 0, 0, 0, 0, 1}}}};
  std::ofstream(dir / "in.json") << input.dump();
  std::string cmd = "/usr/bin/python3 '" + std::string(RSLICER_TEST_DIR) + "/reference/qwen3_reference.py' '" +
                    (dir / "w.safetensors").string() + "' '" + (dir / "in.json").string() + "' '" +
                    (dir / "out.json").string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream in(dir / "out.json");
  auto out = nlohmann::json::parse(in);
  auto expected = torch::tensor(out["embeddings"].get<std::vector<std::vector<float>>>()[0]);
  torch::Tensor ours;
  {
    torch::NoGradGuard g;
    ours = rs->model->embed(ids, mask);
  }
  float max_err = 0;
  for (int r = 0; r < 3; ++r) {
    auto ref = torch::tensor(out["embeddings"][r].get<std::vector<float>>());
    max_err = std::max(max_err, (ours[r] - ref).abs().max().item<float>());
  }
  std::printf("Qwen3 forward vs Python reference: max abs error %.3g over 3 sequences\n", max_err);
  EXPECT_LT(max_err, 1e-4);
  // Negative control: the comparison can fail (another sequence's reference embedding is far away).
  auto other = torch::tensor(out["embeddings"][1].get<std::vector<float>>());
  EXPECT_GT((ours[0] - other).abs().max().item<float>(), 1e-2);
  (void)expected;
}

// Parity with HF transformers itself: tests/model/fixtures/hf_qwen3_tiny was written by transformers' Qwen3Model
// (make_hf_qwen3_fixture.py, versions in provenance.json): its config.json and model.safetensors as save_pretrained
// lays them out, and its outputs on a left-padded batch in reference.safetensors.
namespace {

torch::Tensor fixture_tensor(const SafetensorsFile& file, const std::string& name) {
  const TensorView& v = file.at(name);
  const auto dtype = v.dtype == DType::I64 ? torch::kInt64 : torch::kFloat32;
  return torch::from_blob(const_cast<void*>(v.data), v.shape, dtype).clone();
}

}  // namespace

TEST(Qwen3, MatchesHfTransformersOnItsOwnSavedModel) {
  const std::filesystem::path dir = std::string(RSLICER_TEST_DIR) + "/model/fixtures/hf_qwen3_tiny";
  Qwen3Config c = Qwen3Config::from_json_file(dir / "config.json");
  EXPECT_EQ(c.num_hidden_layers, 3);
  EXPECT_EQ(c.rope_theta, 1e6);  // transformers 5 nests it in rope_parameters
  Qwen3Model model(c);
  LoadReport report = load_hf_backbone(model, dir);
  EXPECT_TRUE(report.missing.empty()) << report.summary();
  EXPECT_TRUE(report.unexpected.empty()) << report.summary();
  EXPECT_EQ(report.loaded.size(), model->named_parameters().size());

  SafetensorsFile ref(dir / "reference.safetensors");
  auto ids = fixture_tensor(ref, "input_ids"), mask = fixture_tensor(ref, "attention_mask");
  auto hidden = fixture_tensor(ref, "last_hidden_state"), embeddings = fixture_tensor(ref, "embeddings");
  auto embeddings_mrl = fixture_tensor(ref, "embeddings_mrl");
  torch::NoGradGuard no_grad;
  model->eval();
  // Every real position of every layer's output (padding positions hold no defined value in either).
  auto real = mask.unsqueeze(-1).to(torch::kFloat32);
  const float hidden_err = ((model->forward(ids, mask) - hidden).abs() * real).max().item<float>();
  const float embed_err = (model->embed(ids, mask) - embeddings).abs().max().item<float>();
  const float mrl_err = (model->embed(ids, mask, embeddings_mrl.size(1)) - embeddings_mrl).abs().max().item<float>();
  model->pack_sequences = true;
  const float packed_err = (model->embed(ids, mask) - embeddings).abs().max().item<float>();
  std::printf("HF transformers parity: hidden %.3g, embeddings %.3g, MRL %.3g, packed %.3g (max abs)\n", hidden_err,
              embed_err, mrl_err, packed_err);
  EXPECT_LT(hidden_err, 1e-4);
  EXPECT_LT(embed_err, 1e-4);
  EXPECT_LT(mrl_err, 1e-4);
  EXPECT_LT(packed_err, 1e-4);
  // Negative control: the same weights with one norm perturbed (as a wrong q_norm would be) do not match.
  model->pack_sequences = false;
  auto named = model->named_parameters();
  named["layers.1.self_attn.q_norm.weight"].mul_(1.01);
  EXPECT_GT((model->embed(ids, mask) - embeddings).abs().max().item<float>(), 1e-4);
}

TEST(Qwen3, HfImportAcceptsTheModelPrefixAndReportsEveryKeyMismatch) {
  const std::filesystem::path fixture = std::string(RSLICER_TEST_DIR) + "/model/fixtures/hf_qwen3_tiny";
  test::TempDir dir;
  std::filesystem::copy_file(fixture / "config.json", dir / "config.json");
  // Rewrite the fixture's weights with a "model." prefix (as Qwen3ForCausalLM saves them), drop one, add one.
  SafetensorsFile original(fixture / "model.safetensors");
  std::vector<TensorToWrite> tensors;
  for (const auto& [name, view] : original.tensors()) {
    if (name == "layers.2.mlp.up_proj.weight") continue;
    tensors.push_back({"model." + name, view.dtype, view.shape, view.data, view.bytes});
  }
  const float extra[2] = {1, 2};  // an attention bias, which Qwen3 does not have
  tensors.push_back({"model.layers.0.self_attn.q_proj.bias", DType::F32, {2}, extra, sizeof(extra)});
  write_safetensors(dir / "model.safetensors", tensors);
  Qwen3Model model(Qwen3Config::from_json_file(dir / "config.json"));
  LoadReport report = load_hf_backbone(model, dir.path());
  ASSERT_EQ(report.missing, std::vector<std::string>{"model.layers.2.mlp.up_proj.weight"});
  ASSERT_EQ(report.unexpected, std::vector<std::string>{"model.layers.0.self_attn.q_proj.bias"});
  EXPECT_EQ(report.loaded.size(), model->named_parameters().size() - 1);
}

TEST(Qwen3Config, ReadsBothRopeLayoutsAndRefusesWhatItDoesNotImplement) {
  test::TempDir dir;
  const std::string base = R"("vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
      "num_key_value_heads": 1, "head_dim": 4, "intermediate_size": 16)";
  test::write_text(dir / "v4.json", "{" + base + R"(, "rope_theta": 10000.0})");
  EXPECT_EQ(Qwen3Config::from_json_file(dir / "v4.json").rope_theta, 10000.0);
  test::write_text(dir / "v5.json", "{" + base + R"(, "rope_parameters": {"rope_theta": 5000.0, "rope_type": "default"}})");
  EXPECT_EQ(Qwen3Config::from_json_file(dir / "v5.json").rope_theta, 5000.0);
  test::write_text(dir / "yarn.json", "{" + base + R"(, "rope_parameters": {"rope_theta": 5000.0, "rope_type": "yarn"}})");
  EXPECT_THROW(Qwen3Config::from_json_file(dir / "yarn.json"), rslicer::Error);
  test::write_text(dir / "sliding.json", "{" + base + R"(, "use_sliding_window": true})");
  EXPECT_THROW(Qwen3Config::from_json_file(dir / "sliding.json"), rslicer::Error);
}

// bf16 autocast (model.precision: bf16): matrix products in bf16, the state restored afterwards; the result stays
// close to fp32. Run on the CPU here (LibTorch's CPU autocast) and on CUDA where there is a GPU.
namespace {

void expect_bf16_autocast_close_to_fp32(torch::Device device) {
  Qwen3Model model(small_config());
  model->reset_parameters(7);
  model->to(device);
  auto ids = torch::tensor({{0, 0, 17, 250, 3, 999}, {5, 6, 7, 8, 9, 10}}).to(device);
  auto mask = torch::tensor({{0, 0, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1}}).to(device);
  torch::Tensor fp32, bf16, inside, after;
  {
    AutocastGuard guard(device, Precision::bf16);
    inside = model->layers[0]->as<Qwen3DecoderLayer>()->mlp->up_proj(torch::ones({1, 64}, device));
    bf16 = model->embed(ids, mask);
  }
  after = model->layers[0]->as<Qwen3DecoderLayer>()->mlp->up_proj(torch::ones({1, 64}, device));
  fp32 = model->embed(ids, mask);
  EXPECT_EQ(inside.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(after.scalar_type(), torch::kFloat32);
  EXPECT_EQ(fp32.scalar_type(), torch::kFloat32);
  const float err = (bf16.to(torch::kFloat32) - fp32).abs().max().item<float>();
  std::printf("bf16 autocast vs fp32 on %s: max abs embedding error %.3g\n", device.str().c_str(), err);
  EXPECT_LT(err, 3e-2);
  EXPECT_GT(err, 0.0f);  // bf16 really ran
  // Gradients flow to the fp32 parameters.
  {
    AutocastGuard guard(device, Precision::bf16);
    model->embed(ids, mask).sum().backward();
  }
  auto g = model->layers[1]->as<Qwen3DecoderLayer>()->mlp->down_proj->weight.grad();
  ASSERT_TRUE(g.defined());
  EXPECT_EQ(g.scalar_type(), torch::kFloat32);
  EXPECT_GT(g.abs().sum().item<float>(), 0.0f);
}

}  // namespace

TEST(Autocast, Bf16OnTheCpuStaysCloseToFp32AndRestoresTheState) {
  expect_bf16_autocast_close_to_fp32(torch::kCPU);
  EXPECT_EQ(parse_precision("bf16"), Precision::bf16);
  EXPECT_THROW(parse_precision("fp8"), rslicer::ConfigError);
}

TEST(Autocast, Bf16OnCudaStaysCloseToFp32) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device (or a CPU-only LibTorch): bf16 on GPU not run";
  expect_bf16_autocast_close_to_fp32(torch::Device(torch::kCUDA, 0));
}

// The fused attention (LibTorch >= 2.0) against the explicit path it replaces, with left padding and GQA.
TEST(Qwen3, FusedAttentionEqualsTheExplicitPath) {
  if (!fused_attention_available()) {
    Qwen3Model model(small_config());
    EXPECT_FALSE(model->fused_attention());
    EXPECT_THROW(model->set_fused_attention(true), rslicer::ConfigError);
    GTEST_SKIP() << "LibTorch " << TORCH_VERSION << " has no scaled_dot_product_attention: explicit path only";
  }
  std::vector<torch::Device> devices{torch::kCPU};
  if (torch::cuda::is_available()) devices.emplace_back(torch::kCUDA, 0);
  for (const auto& device : devices) {
    Qwen3Model model(small_config());
    model->reset_parameters(11);
    model->to(device);
    EXPECT_TRUE(model->fused_attention());
    auto ids = torch::tensor({{0, 0, 17, 250, 3, 999}, {5, 6, 7, 8, 9, 10}, {0, 0, 0, 0, 0, 42}}).to(device);
    auto mask = torch::tensor({{0, 0, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1}, {0, 0, 0, 0, 0, 1}}).to(device);
    // And a batch without padding: the causal kernel, no mask.
    auto full_ids = ids.slice(0, 1, 2).repeat({2, 1}), full_mask = torch::ones_like(full_ids);
    auto fused_causal = model->embed(full_ids, full_mask);
    auto fused = model->embed(ids, mask);
    fused.sum().backward();
    auto fused_grad = model->embed_tokens->weight.grad().clone();
    model->zero_grad();
    model->set_fused_attention(false);
    const float causal_err = (fused_causal - model->embed(full_ids, full_mask)).abs().max().item<float>();
    EXPECT_LT(causal_err, 1e-5);
    auto explicit_ = model->embed(ids, mask);
    explicit_.sum().backward();
    const float err = (fused - explicit_).abs().max().item<float>();
    const float grad_err = (fused_grad - model->embed_tokens->weight.grad()).abs().max().item<float>();
    std::printf("fused vs explicit attention on %s: embeddings %.3g, gradients %.3g\n", device.str().c_str(), err, grad_err);
    EXPECT_LT(err, 1e-5);
    EXPECT_LT(grad_err, 1e-5);
  }
}

// The HF fixture on the GPU: the same weights on CUDA give transformers' embeddings.
TEST(Qwen3, MatchesHfTransformersOnCuda) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device (or a CPU-only LibTorch)";
  const std::filesystem::path dir = std::string(RSLICER_TEST_DIR) + "/model/fixtures/hf_qwen3_tiny";
  Qwen3Model model(Qwen3Config::from_json_file(dir / "config.json"));
  load_hf_backbone(model, dir);
  model->to(torch::kCUDA);
  SafetensorsFile ref(dir / "reference.safetensors");
  torch::NoGradGuard no_grad;
  auto ours = model->embed(fixture_tensor(ref, "input_ids").cuda(), fixture_tensor(ref, "attention_mask").cuda()).cpu();
  const float err = (ours - fixture_tensor(ref, "embeddings")).abs().max().item<float>();
  std::printf("HF transformers parity on CUDA: embeddings %.3g (max abs)\n", err);
  EXPECT_LT(err, 1e-4);
}

// Rows without padding take the causal-only path (no mask tensor; the fused kernel's is_causal): the same result
// as the masked path, which one pad token in front forces (RoPE is relative, so the shift changes nothing).
TEST(Qwen3, CausalOnlyPathEqualsTheMaskedPath) {
  Qwen3Model model(small_config());
  model->reset_parameters(5);
  auto ids = torch::tensor({{11, 12, 13, 14, 15}, {21, 22, 23, 24, 25}});
  auto ones = torch::ones({2, 5}, torch::kInt64);
  auto padded_ids = torch::cat({torch::zeros({2, 1}, torch::kInt64), ids}, 1);
  auto padded_mask = torch::cat({torch::zeros({2, 1}, torch::kInt64), ones}, 1);
  EXPECT_TRUE(left_padded_layout(ids, ones).causal_only);
  EXPECT_FALSE(left_padded_layout(padded_ids, padded_mask).causal_only);
  for (bool fused : {false, true}) {
    if (fused && !fused_attention_available()) continue;
    model->set_fused_attention(fused);
    auto causal = model->embed(ids, ones);
    auto masked = model->embed(padded_ids, padded_mask);
    EXPECT_LT((causal - masked).abs().max().item<float>(), 1e-5) << "fused " << fused;
    auto hidden = model->forward(ids, ones);
    auto hidden_masked = model->forward(padded_ids, padded_mask).slice(1, 1);
    EXPECT_LT((hidden - hidden_masked).abs().max().item<float>(), 1e-4) << "fused " << fused;
    // Negative control: another sequence differs.
    EXPECT_GT((causal[0] - masked[1]).abs().max().item<float>(), 1e-3);
  }
}

TEST(ModelCard, SaysWhatTheRecordHoldsAndLeavesOutWhatItLacks) {
  model::ReleaseInfo info;
  info.backbone.num_hidden_layers = 2;
  info.fusion.gating = true;
  model::TrainingRecord record{"tiny", "Pre-trained with `rslicer pretrain`", 150, 2, 16, {"a.h5", "b.h5"},
                               "2.9583 -> 2.4107", "", ""};
  const std::string card = model::model_card(record, info);
  for (const char* part : {"# RuntimeSlicer state encoder (tiny)", "Pre-trained with `rslicer pretrain`: step 150",
                           "2 rank(s), global batch 16", "- Data: a.h5, b.h5", "2.9583 -> 2.4107", "Qwen3, 2 layers",
                           "gating on", "embed.release=<this dir>"})
    EXPECT_NE(card.find(part), std::string::npos) << part << "\n" << card;
  EXPECT_EQ(card.find("## Training config"), std::string::npos);
  record.evaluation = "Evaluation: AD F1 62.4.";
  record.training_config_yaml = "train:\n  max_steps: 150\n";
  const std::string full = model::model_card(record, info);
  EXPECT_NE(full.find("Evaluation: AD F1 62.4.\n"), std::string::npos);
  EXPECT_NE(full.find("## Training config\n\n```yaml\ntrain:\n  max_steps: 150\n```"), std::string::npos) << full;
}
