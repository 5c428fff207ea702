// The Qwen3 tokenizer: unit behaviour, and golden parity with the JS reference (@lenml/tokenizers on node) on
// >= 10,000 real log lines from ../shared/data plus Unicode edge cases.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>

#include "core/error.h"
#include "data/csv.h"
#include "data/tokenizer.h"
#include "test_util.h"

using namespace rslicer;
using namespace rslicer::data;
namespace fs = std::filesystem;

namespace {

const fs::path kAssets = fs::path(RSLICER_SOURCE_DIR) / "assets" / "qwen3";
const fs::path kNodeModules = fs::path(RSLICER_SOURCE_DIR) / ".deps" / "npm" / "node_modules";

const Tokenizer& qwen3() {
  static const Tokenizer tok = Tokenizer::from_file(kAssets);
  return tok;
}

bool have_tokenizer() { return fs::exists(kAssets / "tokenizer.json"); }

}  // namespace

TEST(Tokenizer, KnownIdsAndRoundTrip) {
  if (!have_tokenizer()) GTEST_SKIP() << "assets/qwen3/tokenizer.json missing (run make deps)";
  const Tokenizer& tok = qwen3();
  EXPECT_EQ(tok.encode("Hello world"), (std::vector<std::int32_t>{9707, 1879}));
  EXPECT_EQ(tok.vocab_size(), 151669u);
  EXPECT_EQ(tok.eos_id(), 151643);
  EXPECT_EQ(tok.encode("a<|endoftext|>b"), (std::vector<std::int32_t>{64, 151643, 65}));
  for (std::string s : {"GET /api/v1/travelservice/trips/left 200 in 12 ms", "中文日志：服务超时", "emoji 😀👍🏽",
                        "tabs\tand  spaces   ", "ints 1234567 and 3.14159"})
    EXPECT_EQ(tok.decode(tok.encode(s)), s) << s;
  // NFC: a decomposed e + combining acute comes back composed.
  EXPECT_EQ(tok.decode(tok.encode("e\xcc\x81 combining")), "\xc3\xa9 combining");
}

TEST(Tokenizer, EmbeddingInputsAndLeftPadding) {
  if (!have_tokenizer()) GTEST_SKIP() << "assets/qwen3/tokenizer.json missing (run make deps)";
  const Tokenizer& tok = qwen3();
  EXPECT_EQ(tok.encode_for_embedding("Hello world", 0), (std::vector<std::int32_t>{9707, 1879, 151643}));
  auto truncated = tok.encode_for_embedding("one two three four five six", 4);
  ASSERT_EQ(truncated.size(), 4u);
  EXPECT_EQ(truncated.back(), tok.eos_id());
  TokenBatch batch = tok.encode_batch({"Hello world", "a"}, 16);
  ASSERT_EQ(batch.batch, 2);
  ASSERT_EQ(batch.length, 3);
  EXPECT_EQ(batch.ids, (std::vector<std::int64_t>{9707, 1879, 151643, 151643, 64, 151643}));
  EXPECT_EQ(batch.mask, (std::vector<std::int64_t>{1, 1, 1, 0, 1, 1}));
}

TEST(Tokenizer, InvalidUtf8BecomesReplacementCharacters) {
  EXPECT_EQ(sanitize_utf8("ok"), "ok");
  EXPECT_EQ(sanitize_utf8("a\xff" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(sanitize_utf8("\xe4\xb8"), "\xEF\xBF\xBD");                 // truncated: one U+FFFD
  EXPECT_EQ(sanitize_utf8("\xe4\xb8" "A"), "\xEF\xBF\xBD" "A");
  EXPECT_EQ(sanitize_utf8("\xc0\xaf"), "\xEF\xBF\xBD\xEF\xBF\xBD");     // overlong: two
  EXPECT_EQ(sanitize_utf8("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate: three
}

TEST(Tokenizer, BadFilesSayWhatIsWrong) {
  test::TempDir dir;
  EXPECT_THROW(Tokenizer::from_file(dir / "missing.json"), Error);
  test::write_text(dir / "bad.json", "{not json");
  EXPECT_THROW(Tokenizer::from_file(dir / "bad.json"), Error);
  test::write_text(dir / "wordpiece.json", R"({"model": {"type": "WordPiece"}})");
  try {
    Tokenizer::from_file(dir / "wordpiece.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(e.one_line().find("not BPE"), std::string::npos) << e.one_line();
  }
}

namespace {

// Runs the JS reference on `input` and returns its id lists.
std::vector<std::vector<std::int32_t>> js_reference(const fs::path& input, bool json) {
  test::TempDir out;
  std::string cmd = "NODE_PATH='" + kNodeModules.string() + "' node '" + std::string(RSLICER_TEST_DIR) +
                    "/reference/tokenize_reference.js' '" + kAssets.string() + "' '" + input.string() + "'" +
                    (json ? " --json" : "") + " > '" + (out / "ids.json").string() + "'";
  if (std::system(cmd.c_str()) != 0) return {};
  std::ifstream in(out / "ids.json");
  return nlohmann::json::parse(in).get<std::vector<std::vector<std::int32_t>>>();
}

bool have_reference() {
  return have_tokenizer() && fs::exists(kNodeModules / "@lenml" / "tokenizers") && std::system("node --version > /dev/null 2>&1") == 0;
}

}  // namespace

TEST(TokenizerGolden, UnicodeEdgeCasesMatchTheJsReference) {
  if (!have_reference()) GTEST_SKIP() << "node or .deps/npm/node_modules/@lenml/tokenizers missing (run make deps)";
  std::vector<std::string> cases = {
      "", " ", "  ", "\n", "\r\n", "a\n\nb", "  leading", "trailing  ", "x\t\ty", "\u00a0nbsp", "\u3000ideographic",
      "中文日志：服务超时，请稍后重试", "日本語のテキスト", "한국어 텍스트", "emoji 😀👍🏽👨‍👩‍👧", "🇨🇳🇺🇸",
      "e\u0301 combining acute", "Å vs A\u030a (NFC)", "ﬁ ligature", "Ω Ohm vs Ω", "12345678901234567890",
      "3.14159 -42 +7 1e-6", "0x1f 0b101", "It's we're they've I'm you'll he'd", "IT'S WE'RE", "ALLCAPS Words",
      "path/to/file_name.ext:123", "https://example.com/a?b=c&d=e#f", "{\"json\": [1, 2, {\"k\": null}]}",
      "tab\tsep\tvalues", "multiple   spaces   here", "ends with newline\n", "\n\n\nlots of newlines\n\n",
      "<|endoftext|>", "pre<|im_start|>mid<|im_end|>post", "<|fake|>", "ascii punctuation !@#$%^&*()_+-=[]{};':\",./<>?",
      "Ünïcödé wörds and ß", "Ελληνικά κείμενα", "русский текст", "עברית", "العربية", "हिन्दी", "ไทย",
      "\u200bzero\u200dwidth\ufeff", "a\u0300\u0301\u0302\u0303 stacked marks"};
  test::TempDir dir;
  std::ofstream(dir / "cases.json") << nlohmann::json(cases).dump();
  auto expected = js_reference(dir / "cases.json", true);
  ASSERT_EQ(expected.size(), cases.size());
  int mismatches = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    auto ids = qwen3().encode(cases[i]);
    if (ids != expected[i] && mismatches++ < 10) ADD_FAILURE() << "case " << i << " '" << cases[i] << "'";
  }
  EXPECT_EQ(mismatches, 0);
}

TEST(TokenizerGolden, TenThousandRealLinesMatchTheJsReference) {
  if (!have_reference()) GTEST_SKIP() << "node or .deps/npm/node_modules/@lenml/tokenizers missing (run make deps)";
  auto data = test::shared_data_dir();
  if (data.empty() || !fs::exists(data / "aiops2022" / "aiops2022-log-samples.tar.zst"))
    GTEST_SKIP() << "../shared/data/aiops2022/aiops2022-log-samples.tar.zst not found";
  test::TempDir dir;
  std::string cmd = "tar --zstd -xf '" + (data / "aiops2022" / "aiops2022-log-samples.tar.zst").string() + "' -C '" +
                    dir.path().string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  // The log text of every record (value column), one per line; raw bytes kept (invalid UTF-8 included).
  std::vector<std::string> lines;
  for (const auto& e : fs::recursive_directory_iterator(dir.path())) {
    if (!e.is_regular_file() || e.path().extension() != ".csv") continue;
    CsvReader csv(e.path());
    std::vector<std::string> row, header;
    csv.next(header);
    const std::size_t value = column_index(header, "value", e.path().string());
    while (csv.next(row))
      if (row.size() > value) {
        std::string line = row[value];
        for (char& c : line)
          if (c == '\n' || c == '\r') c = ' ';
        lines.push_back(line);
      }
  }
  ASSERT_GE(lines.size(), 10000u);
  {
    std::ofstream out(dir / "lines.txt", std::ios::binary);
    for (const auto& l : lines) out << l << '\n';
  }
  auto expected = js_reference(dir / "lines.txt", false);
  ASSERT_EQ(expected.size(), lines.size());
  std::size_t mismatches = 0, tokens = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    auto ids = qwen3().encode(lines[i]);
    tokens += ids.size();
    if (ids != expected[i] && mismatches++ < 5) ADD_FAILURE() << "line " << i << ": " << lines[i].substr(0, 200);
  }
  std::printf("tokenizer parity: %zu lines, %zu tokens, %zu mismatches\n", lines.size(), tokens, mismatches);
  EXPECT_EQ(mismatches, 0u);
}
