// The Qwen3 backbone and RuntimeSlicer module: parameter counts, each layer against hand-checked math, padding
// invariance, gradients, and the whole forward against an independent Python reference of HF's modeling_qwen3.py.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>

#include "core/error.h"
#include "model/qwen3.h"
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
