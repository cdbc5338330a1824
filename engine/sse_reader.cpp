#include "engine/sse_reader.h"

namespace nagent {

std::vector<SseEvent> SseReader::feed(std::string_view bytes) {
  std::vector<SseEvent> out;
  size_t pos = 0;
  if (skip_lf_ && !bytes.empty()) {
    if (bytes[0] == '\n') pos = 1;
    skip_lf_ = false;
  }
  while (pos < bytes.size()) {
    const size_t end = bytes.find_first_of("\r\n", pos);
    if (end == std::string_view::npos) {
      partial_line_.append(bytes.substr(pos));
      break;
    }
    // Whole lines go straight from the read buffer; only a line split across reads is copied.
    if (partial_line_.empty()) {
      take_line(bytes.substr(pos, end - pos), out);
    } else {
      partial_line_.append(bytes.substr(pos, end - pos));
      take_line(partial_line_, out);
      partial_line_.clear();
    }
    pos = end + 1;
    if (bytes[end] == '\r') {
      if (pos < bytes.size()) {
        if (bytes[pos] == '\n') ++pos;
      } else {
        skip_lf_ = true;
      }
    }
  }
  return out;
}

std::vector<SseEvent> SseReader::finish() {
  std::vector<SseEvent> out;
  if (!partial_line_.empty()) {
    std::string line = std::move(partial_line_);
    partial_line_.clear();
    take_line(line, out);
  }
  dispatch(out);
  return out;
}

void SseReader::take_line(std::string_view line, std::vector<SseEvent>& out) {
  if (line.empty()) {
    dispatch(out);
    return;
  }
  if (line[0] == ':') return;  // comment (keep-alive)
  const size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) data_.push_back('\n');
    data_.append(value);
    has_data_ = true;
  } else if (field == "event") {
    event_.assign(value);
  }
  // "id" and "retry" concern reconnecting EventSource clients; a completion is not resumable.
}

void SseReader::dispatch(std::vector<SseEvent>& out) {
  if (has_data_) out.push_back({std::move(event_), std::move(data_)});
  event_.clear();
  data_.clear();
  has_data_ = false;
}

}  // namespace nagent
