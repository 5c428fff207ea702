// Byte-level BPE driven by a Hugging Face tokenizer.json (the Qwen3 one): added/special tokens split out first,
// NFC normalisation, the Split pre-tokenizer regex (PCRE2 with Unicode properties), GPT-2 byte-to-unicode mapping,
// merges by rank, and the post-processor from the JSON (ByteLevel: nothing added; TemplateProcessing: its special
// tokens). Invalid UTF-8 in the input becomes U+FFFD, one per maximal invalid subsequence, as WHATWG/node decode
// it. Thread-safe: encode() keeps no state.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rslicer::data {

struct TokenBatch {
  std::int64_t batch = 0, length = 0;
  std::vector<std::int64_t> ids;   // [batch, length], left padded
  std::vector<std::int64_t> mask;  // [batch, length], 1 for real tokens
};

class Tokenizer {
 public:
  // Loads tokenizer.json (a file, or a directory holding it). Throws Error with what is wrong and where.
  static Tokenizer from_file(const std::filesystem::path& path);
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Ids of `text` without special tokens (as the JS reference's encode()).
  std::vector<std::int32_t> encode(std::string_view text) const;
  // With the post-processor's special tokens.
  std::vector<std::int32_t> encode_with_special_tokens(std::string_view text) const;
  // For embedding as Qwen3-Embedding does: the post-processor, and <|endoftext|> last (appended unless the
  // post-processor already ends with it); truncated to max_length keeping the final <|endoftext|>.
  std::vector<std::int32_t> encode_for_embedding(std::string_view text, std::size_t max_length) const;
  TokenBatch encode_batch(const std::vector<std::string>& texts, std::size_t max_length) const;
  std::string decode(const std::vector<std::int32_t>& ids) const;

  std::int32_t eos_id() const;  // <|endoftext|>
  std::int32_t pad_id() const;  // <|endoftext|> for Qwen3
  std::size_t vocab_size() const;  // including added tokens
  std::int32_t token_id(const std::string& token) const;  // -1 when absent

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// WHATWG UTF-8 decoding with replacement: valid UTF-8 out, U+FFFD for each maximal invalid subsequence.
std::string sanitize_utf8(std::string_view bytes);

// The tokenizer.json this installation uses: $RSLICER_TOKENIZER, else assets/qwen3/tokenizer.json of the source tree.
std::filesystem::path default_tokenizer_path();

}  // namespace rslicer::data
