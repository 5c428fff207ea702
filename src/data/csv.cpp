#include "data/csv.h"

#include <algorithm>

#include "core/error.h"
#include "core/text.h"

namespace rslicer::data {

CsvReader::CsvReader(const std::filesystem::path& path) : path_(path) {
  file_ = std::fopen(path.c_str(), "rb");
  if (!file_) throw Error("cannot open CSV file", path.string(), "an existing readable file");
  buffer_.resize(1 << 16);
  pos_ = buffer_.size();
}

CsvReader::~CsvReader() {
  if (file_) std::fclose(file_);
}

int CsvReader::get() {
  if (pos_ == buffer_.size() || eof_) {
    if (eof_) return EOF;
    buffer_.resize(1 << 16);
    std::size_t n = std::fread(buffer_.data(), 1, buffer_.size(), file_);
    if (n == 0) {
      eof_ = true;
      return EOF;
    }
    buffer_.resize(n);
    pos_ = 0;
  }
  ++bytes_;
  return static_cast<unsigned char>(buffer_[pos_++]);
}

bool CsvReader::next(std::vector<std::string>& fields) {
  fields.clear();
  int c = get();
  if (c == EOF) return false;
  record_line_ = line_;
  std::string field;
  bool quoted = false, was_quoted = false;
  while (true) {
    if (c == EOF) {
      if (quoted) throw Error("unterminated quoted field", where(), "a closing '\"'");
      fields.push_back(std::move(field));
      return true;
    }
    if (quoted) {
      if (c == '"') {
        int d = get();
        if (d == '"') {
          field += '"';
        } else {
          quoted = false;
          c = d;
          continue;
        }
      } else {
        if (c == '\n') ++line_;
        field += static_cast<char>(c);
      }
    } else if (c == '"' && field.empty() && !was_quoted) {
      quoted = was_quoted = true;
    } else if (c == ',') {
      fields.push_back(std::move(field));
      field.clear();
      was_quoted = false;
    } else if (c == '\n') {
      ++line_;
      if (!field.empty() && field.back() == '\r' && !was_quoted) field.pop_back();
      fields.push_back(std::move(field));
      return true;
    } else {
      field += static_cast<char>(c);
    }
    c = get();
  }
}

std::size_t column_index(const std::vector<std::string>& header, const std::string& name, const std::string& where) {
  auto it = std::find(header.begin(), header.end(), name);
  if (it == header.end()) {
    std::string hint = did_you_mean(name, header);
    throw Error("missing column '" + name + "'", where, hint.empty() ? "a header with " + name : hint);
  }
  return static_cast<std::size_t>(it - header.begin());
}

bool is_valid_utf8(const std::string& s) {
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || i + len > n || (len == 2 && c < 0xC2)) return false;  // bad lead byte, truncated, overlong
    for (std::size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += len;
  }
  return true;
}

}  // namespace rslicer::data
