#include "data/tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>
#include <unordered_map>

#include "core/error.h"

namespace fs = std::filesystem;

namespace rslicer::data {

std::string sanitize_utf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  auto emit = [&](std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  };
  std::uint32_t cp = 0;
  int needed = 0, seen = 0;
  unsigned lower = 0x80, upper = 0xBF;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const auto b = static_cast<unsigned char>(in[i]);
    if (needed == 0) {
      if (b <= 0x7F) {
        out += static_cast<char>(b);
      } else if (b >= 0xC2 && b <= 0xDF) {
        needed = 1;
        cp = b & 0x1F;
      } else if (b >= 0xE0 && b <= 0xEF) {
        if (b == 0xE0) lower = 0xA0;
        if (b == 0xED) upper = 0x9F;
        needed = 2;
        cp = b & 0xF;
      } else if (b >= 0xF0 && b <= 0xF4) {
        if (b == 0xF0) lower = 0x90;
        if (b == 0xF4) upper = 0x8F;
        needed = 3;
        cp = b & 0x7;
      } else {
        emit(0xFFFD);
      }
      continue;
    }
    if (b < lower || b > upper) {
      cp = 0;
      needed = seen = 0;
      lower = 0x80;
      upper = 0xBF;
      emit(0xFFFD);
      --i;  // the byte starts over
      continue;
    }
    lower = 0x80;
    upper = 0xBF;
    cp = (cp << 6) | (b & 0x3F);
    if (++seen == needed) {
      emit(cp);
      cp = 0;
      needed = seen = 0;
    }
  }
  if (needed) emit(0xFFFD);
  return out;
}

fs::path default_tokenizer_path() {
  if (const char* env = std::getenv("RSLICER_TOKENIZER")) return env;
  return fs::path(RSLICER_SOURCE_ASSET_DIR) / "qwen3" / "tokenizer.json";
}

namespace {

// GPT-2's byte <-> printable unicode character mapping, as UTF-8 strings.
std::array<std::string, 256> byte_to_unicode() {
  std::array<std::string, 256> table;
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    std::uint32_t cp = printable ? static_cast<std::uint32_t>(b) : static_cast<std::uint32_t>(256 + n++);
    std::string s;
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    table[static_cast<std::size_t>(b)] = s;
  }
  return table;
}

struct Merge {
  std::int32_t rank, merged;
};

struct PcreCode {
  pcre2_code* code = nullptr;
  ~PcreCode() {
    if (code) pcre2_code_free(code);
  }
};

}  // namespace

struct Tokenizer::Impl {
  std::unordered_map<std::string, std::int32_t> vocab;
  std::vector<std::string> id_to_token;
  std::unordered_map<std::uint64_t, Merge> merges;  // (left id << 32 | right id) -> rank, merged id
  std::array<std::int32_t, 256> byte_ids{};
  std::unordered_map<std::string, unsigned char> unicode_to_byte;
  std::vector<std::pair<std::string, std::int32_t>> added;  // content, id; longest first
  PcreCode split;
  bool nfc = false;
  std::vector<std::int32_t> prefix_special, suffix_special;  // from TemplateProcessing
  std::int32_t eos = -1;

  void bpe(const std::string& piece, std::vector<std::int32_t>& out) const {
    std::vector<std::int32_t> symbols;
    symbols.reserve(piece.size());
    for (unsigned char c : piece) symbols.push_back(byte_ids[c]);
    while (symbols.size() > 1) {
      std::int32_t best_rank = INT32_MAX, best_merged = -1;
      std::size_t best_at = 0;
      for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
        auto key = (static_cast<std::uint64_t>(static_cast<std::uint32_t>(symbols[i])) << 32) |
                   static_cast<std::uint32_t>(symbols[i + 1]);
        auto it = merges.find(key);
        if (it != merges.end() && it->second.rank < best_rank) {
          best_rank = it->second.rank;
          best_merged = it->second.merged;
          best_at = i;
        }
      }
      if (best_merged < 0) break;
      // Merge every occurrence of the best pair, left to right.
      const std::int32_t left = symbols[best_at], right = symbols[best_at + 1];
      std::vector<std::int32_t> next;
      next.reserve(symbols.size());
      for (std::size_t i = 0; i < symbols.size(); ++i) {
        if (i + 1 < symbols.size() && symbols[i] == left && symbols[i + 1] == right) {
          next.push_back(best_merged);
          ++i;
        } else {
          next.push_back(symbols[i]);
        }
      }
      symbols.swap(next);
    }
    out.insert(out.end(), symbols.begin(), symbols.end());
  }

  void encode_plain(std::string_view text, std::vector<std::int32_t>& out) const {
    std::string normalized(text);
    if (nfc && !normalized.empty()) {
      utf8proc_uint8_t* nfc_text = utf8proc_NFC(reinterpret_cast<const utf8proc_uint8_t*>(normalized.c_str()));
      if (nfc_text) {
        normalized = reinterpret_cast<char*>(nfc_text);
        std::free(nfc_text);
      }
    }
    pcre2_match_data* match = pcre2_match_data_create_from_pattern(split.code, nullptr);
    auto subject = reinterpret_cast<PCRE2_SPTR>(normalized.data());
    std::size_t offset = 0, last_end = 0;
    while (offset <= normalized.size()) {
      int rc = pcre2_match(split.code, subject, normalized.size(), offset, 0, match, nullptr);
      if (rc < 0) break;
      PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match);
      if (ov[0] > last_end) bpe(normalized.substr(last_end, ov[0] - last_end), out);  // an unmatched gap
      if (ov[1] > ov[0]) bpe(normalized.substr(ov[0], ov[1] - ov[0]), out);
      last_end = ov[1];
      if (ov[1] == ov[0]) {  // empty match: step over one character
        if (ov[1] >= normalized.size()) break;
        offset = ov[1] + 1;
        while (offset < normalized.size() && (static_cast<unsigned char>(normalized[offset]) & 0xC0) == 0x80) ++offset;
      } else {
        offset = ov[1];
      }
    }
    if (last_end < normalized.size()) bpe(normalized.substr(last_end), out);
    pcre2_match_data_free(match);
  }

  std::vector<std::int32_t> encode(std::string_view raw) const {
    std::string text = sanitize_utf8(raw);
    std::vector<std::int32_t> out;
    std::size_t start = 0, i = 0;
    while (i < text.size()) {
      bool matched = false;
      for (const auto& [content, id] : added) {
        if (text.compare(i, content.size(), content) == 0) {
          if (i > start) encode_plain(std::string_view(text).substr(start, i - start), out);
          out.push_back(id);
          i += content.size();
          start = i;
          matched = true;
          break;
        }
      }
      if (!matched) ++i;
    }
    if (start < text.size()) encode_plain(std::string_view(text).substr(start), out);
    return out;
  }
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_file(const fs::path& given) {
  fs::path path = fs::is_directory(given) ? given / "tokenizer.json" : given;
  std::ifstream in(path);
  if (!in)
    throw Error("cannot read tokenizer", path.string(),
                "a tokenizer.json (make deps writes assets/qwen3/tokenizer.json; or tokenizer=PATH)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("tokenizer is not valid JSON (") + e.what() + ")", path.string(), "a HF tokenizer.json");
  }
  auto impl = std::make_unique<Impl>();
  const auto& model = j.value("model", nlohmann::json::object());
  if (model.value("type", "") != "BPE" || !model.contains("vocab") || !model.contains("merges"))
    throw Error("tokenizer model is not BPE with vocab and merges", path.string(), "a byte-level BPE tokenizer.json");
  for (const auto& [token, id] : model["vocab"].items()) {
    auto i = id.get<std::int32_t>();
    impl->vocab[token] = i;
    if (static_cast<std::size_t>(i) >= impl->id_to_token.size()) impl->id_to_token.resize(static_cast<std::size_t>(i) + 1);
    impl->id_to_token[static_cast<std::size_t>(i)] = token;
  }
  for (const auto& a : j.value("added_tokens", nlohmann::json::array())) {
    auto id = a["id"].get<std::int32_t>();
    std::string content = a["content"].get<std::string>();
    impl->added.emplace_back(content, id);
    impl->vocab[content] = id;
    if (static_cast<std::size_t>(id) >= impl->id_to_token.size()) impl->id_to_token.resize(static_cast<std::size_t>(id) + 1);
    impl->id_to_token[static_cast<std::size_t>(id)] = content;
  }
  std::stable_sort(impl->added.begin(), impl->added.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  const auto table = byte_to_unicode();
  for (int b = 0; b < 256; ++b) {
    auto it = impl->vocab.find(table[static_cast<std::size_t>(b)]);
    if (it == impl->vocab.end())
      throw Error("byte " + std::to_string(b) + " has no token", path.string(), "a byte-level vocabulary");
    impl->byte_ids[static_cast<std::size_t>(b)] = it->second;
    impl->unicode_to_byte[table[static_cast<std::size_t>(b)]] = static_cast<unsigned char>(b);
  }
  std::int32_t rank = 0;
  for (const auto& m : model["merges"]) {
    std::string left, right;
    if (m.is_array()) {
      left = m[0].get<std::string>();
      right = m[1].get<std::string>();
    } else {
      std::string s = m.get<std::string>();
      auto space = s.find(' ', 1);
      left = s.substr(0, space);
      right = s.substr(space + 1);
    }
    auto l = impl->vocab.find(left), r = impl->vocab.find(right), merged = impl->vocab.find(left + right);
    if (l == impl->vocab.end() || r == impl->vocab.end() || merged == impl->vocab.end())
      throw Error("merge '" + left + " " + right + "' uses unknown tokens", path.string(), "merges within the vocab");
    auto key = (static_cast<std::uint64_t>(static_cast<std::uint32_t>(l->second)) << 32) |
               static_cast<std::uint32_t>(r->second);
    impl->merges.emplace(key, Merge{rank++, merged->second});
  }
  const auto& normalizer = j.value("normalizer", nlohmann::json());
  impl->nfc = normalizer.is_object() && normalizer.value("type", "") == "NFC";
  // The Split pre-tokenizer's regex (Qwen2/3 style), inside a Sequence or alone.
  std::string pattern;
  auto find_split = [&](const nlohmann::json& p) {
    if (p.is_object() && p.value("type", "") == "Split" && p.contains("pattern")) pattern = p["pattern"].value("Regex", "");
  };
  const auto& pre = j.value("pre_tokenizer", nlohmann::json());
  if (pre.is_object() && pre.value("type", "") == "Sequence")
    for (const auto& p : pre["pretokenizers"]) find_split(p);
  else
    find_split(pre);
  if (pattern.empty())
    throw Error("no Split pre-tokenizer regex", path.string(), "a Qwen2/Qwen3-style tokenizer.json");
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  impl->split.code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP, &error, &error_offset, nullptr);
  if (!impl->split.code)
    throw Error("cannot compile the pre-tokenizer regex at offset " + std::to_string(error_offset), path.string(),
                "a PCRE2-compatible pattern");
  pcre2_jit_compile(impl->split.code, PCRE2_JIT_COMPLETE);
  // Post-processor: TemplateProcessing's special tokens around the single sequence.
  const auto& post = j.value("post_processor", nlohmann::json());
  if (post.is_object() && post.value("type", "") == "TemplateProcessing" && post.contains("single")) {
    bool before = true;
    for (const auto& piece : post["single"]) {
      if (piece.contains("Sequence")) {
        before = false;
      } else if (piece.contains("SpecialToken")) {
        std::string id = piece["SpecialToken"]["id"].get<std::string>();
        auto it = impl->vocab.find(id);
        if (it == impl->vocab.end()) throw Error("post-processor token '" + id + "' unknown", path.string(), "a vocab token");
        (before ? impl->prefix_special : impl->suffix_special).push_back(it->second);
      }
    }
  }
  auto eos = impl->vocab.find("<|endoftext|>");
  if (eos == impl->vocab.end()) throw Error("no <|endoftext|> token", path.string(), "a Qwen tokenizer");
  impl->eos = eos->second;
  return Tokenizer(std::move(impl));
}

std::vector<std::int32_t> Tokenizer::encode(std::string_view text) const { return impl_->encode(text); }

std::vector<std::int32_t> Tokenizer::encode_with_special_tokens(std::string_view text) const {
  std::vector<std::int32_t> out = impl_->prefix_special;
  auto body = impl_->encode(text);
  out.insert(out.end(), body.begin(), body.end());
  out.insert(out.end(), impl_->suffix_special.begin(), impl_->suffix_special.end());
  return out;
}

std::vector<std::int32_t> Tokenizer::encode_for_embedding(std::string_view text, std::size_t max_length) const {
  std::vector<std::int32_t> ids = encode_with_special_tokens(text);
  if (ids.empty() || ids.back() != impl_->eos) ids.push_back(impl_->eos);
  if (max_length > 0 && ids.size() > max_length) {
    ids.resize(max_length);
    ids.back() = impl_->eos;  // the pooled token stays <|endoftext|>
  }
  return ids;
}

TokenBatch Tokenizer::encode_batch(const std::vector<std::string>& texts, std::size_t max_length) const {
  std::vector<std::vector<std::int32_t>> rows;
  std::size_t longest = 0;
  for (const auto& t : texts) {
    rows.push_back(encode_for_embedding(t, max_length));
    longest = std::max(longest, rows.back().size());
  }
  TokenBatch batch;
  batch.batch = static_cast<std::int64_t>(texts.size());
  batch.length = static_cast<std::int64_t>(longest);
  batch.ids.assign(texts.size() * longest, pad_id());
  batch.mask.assign(texts.size() * longest, 0);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const std::size_t pad = longest - rows[r].size();  // left padding: the last token is always real
    for (std::size_t k = 0; k < rows[r].size(); ++k) {
      batch.ids[r * longest + pad + k] = rows[r][k];
      batch.mask[r * longest + pad + k] = 1;
    }
  }
  return batch;
}

std::string Tokenizer::decode(const std::vector<std::int32_t>& ids) const {
  std::string out;
  for (std::int32_t id : ids) {
    if (id < 0 || static_cast<std::size_t>(id) >= impl_->id_to_token.size()) continue;
    const std::string& token = impl_->id_to_token[static_cast<std::size_t>(id)];
    bool is_added = std::any_of(impl_->added.begin(), impl_->added.end(), [&](const auto& a) { return a.second == id; });
    if (is_added) {
      out += token;
      continue;
    }
    for (std::size_t i = 0; i < token.size();) {  // each unicode char of the token is one byte
      std::size_t len = (static_cast<unsigned char>(token[i]) & 0x80) == 0 ? 1 : 2;
      auto it = impl_->unicode_to_byte.find(token.substr(i, len));
      if (it != impl_->unicode_to_byte.end()) out += static_cast<char>(it->second);
      i += len;
    }
  }
  return out;
}

std::int32_t Tokenizer::eos_id() const { return impl_->eos; }
std::int32_t Tokenizer::pad_id() const { return impl_->eos; }
std::size_t Tokenizer::vocab_size() const { return impl_->id_to_token.size(); }
std::int32_t Tokenizer::token_id(const std::string& token) const {
  auto it = impl_->vocab.find(token);
  return it == impl_->vocab.end() ? -1 : it->second;
}

}  // namespace rslicer::data
