// Program extraction from fenced blocks and line-wise output comparison (code_text.h).
#include "rlvr/rewards/code_text.h"

#include <algorithm>
#include <cctype>

namespace rlvr {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// A fence line: up to three spaces, then `ticks` (>= 3) backticks; *rest is what follows them.
bool fence_line(std::string_view line, size_t* ticks, std::string_view* rest) {
  size_t i = 0;
  while (i < line.size() && i < 3 && line[i] == ' ') ++i;
  size_t j = i;
  while (j < line.size() && line[j] == '`') ++j;
  if (j - i < 3) return false;
  *ticks = j - i;
  *rest = trim(line.substr(j));
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool tag_accepted(std::string_view info, const std::vector<std::string>& tags) {
  const std::string word = lower(info.substr(0, std::min(info.find_first_of(" \t{"), info.size())));
  return word.empty() || std::find(tags.begin(), tags.end(), word) != tags.end();
}

bool blank(std::string_view s) { return s.find_first_not_of(" \t\r\n") == std::string_view::npos; }

}  // namespace

std::optional<std::string> extract_program(std::string_view completion,
                                           const std::vector<std::string>& tags,
                                           bool require_fence) {
  std::optional<std::string> last;
  bool any_fence = false, in_block = false, wanted = false;
  size_t open_ticks = 0;
  std::string block;
  for (size_t pos = 0; pos < completion.size();) {
    size_t end = std::min(completion.find('\n', pos), completion.size());
    const std::string_view line = completion.substr(pos, end - pos);
    const std::string_view with_newline = completion.substr(pos, end + 1 - pos);
    pos = end + 1;
    size_t ticks = 0;
    std::string_view rest;
    const bool fence = fence_line(line, &ticks, &rest);
    if (!in_block) {
      if (!fence || rest.find('`') != std::string_view::npos) continue;  // ```x``` is inline code
      any_fence = in_block = true;
      open_ticks = ticks;
      wanted = tag_accepted(rest, tags);
      block.clear();
    } else if (fence && ticks >= open_ticks && rest.empty()) {
      in_block = false;
      if (wanted) last = block;
    } else {
      block.append(with_newline);
    }
  }
  if (in_block && wanted) last = block;  // an unclosed block runs to the end of the text
  if (!last && !any_fence && !require_fence) last = std::string(completion);
  if (last && blank(*last)) return std::nullopt;
  return last;
}

bool outputs_match(std::string_view got, std::string_view want) {
  auto lines = [](std::string_view s) {
    std::vector<std::string_view> out;
    for (size_t pos = 0; pos <= s.size();) {
      size_t end = std::min(s.find('\n', pos), s.size());
      std::string_view l = s.substr(pos, end - pos);
      while (!l.empty() && is_space(l.back())) l.remove_suffix(1);
      out.push_back(l);
      pos = end + 1;
    }
    while (!out.empty() && out.back().empty()) out.pop_back();
    return out;
  };
  return lines(got) == lines(want);
}

}  // namespace rlvr
