// Incremental reader for Server-Sent Events (text/event-stream), the framing that
// OpenAI-compatible servers stream chat completions in. Feed it bytes as they arrive from
// the socket, in pieces of any size: events split across reads, CRLF / LF / CR line ends,
// ": comment" keep-alives and multi-line data fields are handled as the SSE spec says.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace nagent {

struct SseEvent {
  std::string event;  // the "event:" field; empty for the default "message"
  std::string data;   // "data:" lines joined with '\n'
};

class SseReader {
 public:
  // Consumes bytes; returns the events they complete, in order.
  std::vector<SseEvent> feed(std::string_view bytes);
  // The stream ended: returns the last event if the server closed without the blank line
  // that should end it (lenient: some servers do).
  std::vector<SseEvent> finish();

 private:
  void take_line(std::string_view line, std::vector<SseEvent>& out);
  void dispatch(std::vector<SseEvent>& out);

  std::string partial_line_;
  bool skip_lf_ = false;  // the previous read ended in CR: a leading LF belongs to it
  std::string event_;
  std::string data_;
  bool has_data_ = false;
};

}  // namespace nagent
