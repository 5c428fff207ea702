#include "data/time_parse.h"

#include <cstdlib>
#include <ctime>
#include <regex>

namespace rslicer::data {

std::optional<std::int64_t> parse_datetime_ns(const std::string& text) {
  static const std::regex re(
      R"(^\s*(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.(\d{1,9}))?\s*(Z|([+-])(\d{2}):?(\d{2}))?.*$)");
  std::smatch m;
  if (!std::regex_match(text, m, re)) return std::nullopt;
  std::tm tm{};
  tm.tm_year = std::stoi(m[1]) - 1900;
  tm.tm_mon = std::stoi(m[2]) - 1;
  tm.tm_mday = std::stoi(m[3]);
  tm.tm_hour = std::stoi(m[4]);
  tm.tm_min = std::stoi(m[5]);
  tm.tm_sec = std::stoi(m[6]);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
    return std::nullopt;
  std::int64_t seconds = timegm(&tm);
  std::int64_t frac = 0;
  if (m[8].matched) {
    std::string f = m[8];
    f.resize(9, '0');
    frac = std::stoll(f);
  }
  if (m[10].matched) {
    std::int64_t offset = std::stoi(m[11]) * 3600 + std::stoi(m[12]) * 60;
    seconds -= (m[10] == "+" ? offset : -offset);
  }
  return seconds * 1000000000LL + frac;
}

std::optional<std::int64_t> parse_epoch_ns(const std::string& text, char unit) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  if (text.find_first_of(".eE") != std::string::npos) {
    double v = std::strtod(text.c_str(), &end);
    if (*end != '\0') return std::nullopt;
    double scale = unit == 'n' ? 1.0 : unit == 'u' ? 1e3 : unit == 'm' ? 1e6 : 1e9;
    return static_cast<std::int64_t>(v * scale);
  }
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (*end != '\0') return std::nullopt;
  std::int64_t scale = unit == 'n' ? 1 : unit == 'u' ? 1000 : unit == 'm' ? 1000000 : 1000000000;
  return static_cast<std::int64_t>(v) * scale;
}

bool is_plausible_time_ns(std::int64_t ns) {
  return ns >= 946'684'800'000'000'000LL && ns < 4'102'444'800'000'000'000LL;
}

std::string format_utc(std::int64_t ns) {
  std::time_t t = static_cast<std::time_t>(ns / 1000000000LL);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

}  // namespace rslicer::data
