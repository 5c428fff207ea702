// A streaming RFC 4180 CSV reader (quoted fields, "" escapes, newlines inside quotes) that keeps line numbers for
// error messages and checks UTF-8.
#pragma once

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace rslicer::data {

class CsvReader {
 public:
  explicit CsvReader(const std::filesystem::path& path);
  ~CsvReader();
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

  // Reads the next record into `fields`; false at the end of the file. Throws Error on an unterminated quote.
  bool next(std::vector<std::string>& fields);
  // Line (1-based) where the last record started.
  std::size_t line() const { return record_line_; }
  std::string where() const { return path_.string() + ":" + std::to_string(record_line_); }
  const std::filesystem::path& path() const { return path_; }
  std::size_t bytes_read() const { return bytes_; }

 private:
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
  std::size_t line_ = 1, record_line_ = 0, bytes_ = 0;
  std::string buffer_;
  std::size_t pos_ = 0;
  bool eof_ = false;
  int get();
};

// Column index by header name; throws Error naming the file and the missing column.
std::size_t column_index(const std::vector<std::string>& header, const std::string& name, const std::string& where);

bool is_valid_utf8(const std::string& s);

}  // namespace rslicer::data
