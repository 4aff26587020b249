// JSONL encode/decode loops: nlohmann parses each line, ids are written with std::to_chars into
// one reused buffer that is flushed to the sink in ~1 MiB chunks.
#include "rlvr/tokenizer/jsonl.h"

#include <charconv>
#include <cstring>
#include <nlohmann/json.hpp>

#include "rlvr/core/error.h"
#include "rlvr/tokenizer/json_string.h"
#include "rlvr/tokenizer/utf8.h"

namespace rlvr {
namespace {

using json = nlohmann::json;

void append_ids(std::string& out, const std::vector<int32_t>& ids) {
  out += "{\"ids\": [";
  char num[16];
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ", ";
    auto r = std::to_chars(num, num + sizeof num, ids[i]);
    out.append(num, static_cast<size_t>(r.ptr - num));
  }
  out += "]}\n";
}

// Reads a line that is exactly {"text": "..."} (any JSON whitespace) without a DOM; false for
// any other shape, which then goes through nlohmann (same result, proper error messages).
bool fast_text_line(std::string_view line, std::string& text) {
  const char *p = line.data(), *end = p + line.size();
  skip_json_ws(p, end);
  if (p == end || *p++ != '{') return false;
  skip_json_ws(p, end);
  if (end - p < 6 || std::memcmp(p, "\"text\"", 6) != 0) return false;
  p += 6;
  skip_json_ws(p, end);
  if (p == end || *p++ != ':') return false;
  skip_json_ws(p, end);
  if (!read_json_string(p, end, text)) return false;
  skip_json_ws(p, end);
  if (p == end || *p++ != '}') return false;
  skip_json_ws(p, end);
  return p == end && (utf8::is_ascii(text) || utf8::is_valid(text));
}

// For each non-blank line: fast(line), or when that declines, fn(parsed json, bad) where
// bad(why) throws. Output is passed to the sink before an error is thrown.
template <typename Fast, typename Fn>
void for_each_line(std::string_view in, std::string& out, const JsonlSink& sink,
                   const std::string& source, Fast fast, Fn fn) {
  size_t lineno = 0;
  for (size_t pos = 0; pos < in.size();) {
    size_t nl = in.find('\n', pos);
    if (nl == std::string_view::npos) nl = in.size();
    std::string_view line = in.substr(pos, nl - pos);
    pos = nl + 1;
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    if (!fast(line)) {
      auto bad = [&](const std::string& why) {
        sink(out);
        out.clear();
        fail(source, " line ", lineno, ": ", why);
      };
      json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded()) bad("invalid JSON");
      fn(j, bad);
    }
    if (out.size() > (1u << 20)) {
      sink(out);
      out.clear();
    }
  }
  sink(out);
}

}  // namespace

void encode_jsonl(const Tokenizer& tok, std::string_view in, const JsonlSink& sink,
                  const std::string& source) {
  std::string out;
  out.reserve((1u << 20) + 4096);
  std::string text;
  auto fast = [&](std::string_view line) {
    if (!fast_text_line(line, text)) return false;
    append_ids(out, tok.encode(text));
    return true;
  };
  for_each_line(in, out, sink, source, fast, [&](const json& j, const auto& bad) {
    auto it = j.is_object() ? j.find("text") : j.end();
    if (it == j.end() || !it->is_string()) bad("expected an object {\"text\": string}");
    append_ids(out, tok.encode(it->template get_ref<const std::string&>()));
  });
}

void decode_jsonl(const Tokenizer& tok, std::string_view in, const JsonlSink& sink,
                  const std::string& source) {
  std::string out;
  std::vector<int32_t> ids;
  auto no_fast_path = [](std::string_view) { return false; };
  for_each_line(in, out, sink, source, no_fast_path, [&](const json& j, const auto& bad) {
    auto it = j.is_object() ? j.find("ids") : j.end();
    if (it == j.end() || !it->is_array()) bad("expected an object {\"ids\": [integers]}");
    ids.clear();
    for (const auto& x : *it) {
      if (!x.is_number_integer() || x.get<int64_t>() < INT32_MIN || x.get<int64_t>() > INT32_MAX)
        bad("\"ids\" must hold 32-bit integers only");
      ids.push_back(x.get<int32_t>());
    }
    out += "{\"text\": " + json(tok.decode(ids)).dump() + "}\n";
  });
}

}  // namespace rlvr
