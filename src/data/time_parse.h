// Timestamps as found in telemetry, parsed to int64 nanoseconds since the Unix epoch (UTC).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace rslicer::data {

// "2023-01-30 11:39:54.088933861 +0000 UTC m=+1.26" (Go's time.String), "2023-01-30T11:50:59.97Z" (RFC 3339),
// "2023-01-30 11:51:46" (UTC assumed). nullopt when the text is none of these.
std::optional<std::int64_t> parse_datetime_ns(const std::string& text);

// "1675079506" seconds, "1675079506.25", or the unit given: 'n' ns, 'u' µs, 'm' ms, 's' s.
std::optional<std::int64_t> parse_epoch_ns(const std::string& text, char unit);

// Telemetry times are in [2000-01-01, 2100-01-01); anything else is a sentinel or a unit mistake (Go's zero time
// -6795364578871345152 appears in Nezha's logs).
bool is_plausible_time_ns(std::int64_t ns);

// "2023-01-30T11:51:46Z" for messages and reports.
std::string format_utc(std::int64_t ns);

}  // namespace rslicer::data
