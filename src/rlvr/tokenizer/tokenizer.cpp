// Tokenizer::load and the encode/decode paths: raw added-token split -> NFC -> normalized
// added-token split -> pre-tokenizer pieces -> BPE per piece; decode maps ids to bytes and
// replaces invalid UTF-8. Config files are read in tokenizer_config.cpp.
#include "rlvr/tokenizer/tokenizer.h"

#include <limits>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/tokenizer/tokenizer_impl.h"
#include "rlvr/tokenizer/tokenizer_json.h"
#include "rlvr/tokenizer/utf8.h"

namespace rlvr {

using json = nlohmann::json;

static bool json_flag(const json& j, const char* key, bool dflt = false) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() ? it->get<bool>() : dflt;
}

static std::unique_ptr<BpeModel> load_model(TokenizerJson& tj, const std::string& where) {
  RLVR_CHECK(tj.rest.contains("model") && tj.rest["model"].is_object(), where,
             ": no \"model\" object; is this a Hugging Face tokenizer.json?");
  const json& m = tj.rest["model"];
  std::string type = m.value("type", std::string(tj.merges_captured ? "BPE" : "?"));
  RLVR_CHECK(type == "BPE", where, ": model type '", type,
             "' is not supported; rlvr reads byte-level BPE tokenizers only (Qwen, GPT-2, "
             "Llama-3 style)");
  RLVR_CHECK(tj.vocab_captured, where, ": model.vocab must be an object of token -> id");
  RLVR_CHECK(tj.merges_captured || !m.contains("merges"), where,
             ": model.merges must be an array of \"a b\" strings or [a, b] pairs");
  RLVR_CHECK(!json_flag(m, "byte_fallback"), where,
             ": BPE with byte_fallback (SentencePiece style) is not supported; only byte-level BPE");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto it = m.find(key);
    RLVR_CHECK(it == m.end() || it->is_null() || (it->is_string() && it->get<std::string>().empty()),
               where, ": model.", key, " is not supported (only byte-level BPE)");
  }
  BpeModel::Options opt;
  opt.ignore_merges = json_flag(m, "ignore_merges");
  if (m.contains("unk_token") && m["unk_token"].is_string())
    opt.unk_token = m["unk_token"].get<std::string>();
  return std::make_unique<BpeModel>(std::move(tj.vocab), std::move(tj.merges), opt, where);
}

static std::vector<AddedToken> load_added(const json& root, const std::string& where) {
  std::vector<AddedToken> out;
  if (!root.contains("added_tokens") || root["added_tokens"].is_null()) return out;
  RLVR_CHECK(root["added_tokens"].is_array(), where, ": \"added_tokens\" must be an array");
  for (const auto& t : root["added_tokens"]) {
    RLVR_CHECK(t.is_object() && t.contains("id") && t["id"].is_number_integer() &&
                   t.contains("content") && t["content"].is_string(),
               where, ": every added_tokens entry needs an integer \"id\" and a string \"content\"");
    AddedToken a;
    a.id = t["id"].get<int32_t>();
    RLVR_CHECK(a.id >= 0, where, ": added token '", t["content"].get<std::string>(),
               "' has a negative id");
    a.content = t["content"].get<std::string>();
    a.special = json_flag(t, "special");
    a.lstrip = json_flag(t, "lstrip");
    a.rstrip = json_flag(t, "rstrip");
    a.normalized = json_flag(t, "normalized", !a.special);
    a.single_word = json_flag(t, "single_word");
    out.push_back(std::move(a));
  }
  return out;
}

static void check_decoder(const json& root, const PreTokenizer& pre, const std::string& where) {
  const json& d = root.contains("decoder") ? root["decoder"] : json();
  bool byte_level = false;
  if (d.is_object() && d.value("type", std::string()) == "ByteLevel") byte_level = true;
  if (d.is_object() && d.value("type", std::string()) == "Sequence" && d.contains("decoders"))
    for (const auto& sub : d["decoders"])
      if (sub.is_object() && sub.value("type", std::string()) == "ByteLevel") byte_level = true;
  if (d.is_null() && pre.has_byte_level()) byte_level = true;
  RLVR_CHECK(byte_level, where, ": decoder ",
             d.is_object() ? "type '" + d.value("type", std::string("?")) + "'" : std::string("null"),
             " is not byte-level; rlvr reads byte-level BPE tokenizers only");
}

Tokenizer Tokenizer::load(const std::string& path) {
  std::string file = is_directory(path) ? join_path(path, "tokenizer.json") : path;
  RLVR_CHECK(file_exists(file), file, ": not found; pass a tokenizer.json or a model folder holding one");
  auto impl = std::make_shared<Impl>();
  impl->path = file;
  TokenizerJson tj = read_tokenizer_json(file);
  const json& root = tj.rest;
  impl->bpe = load_model(tj, file);
  impl->normalizer = Normalizer::from_json(root.value("normalizer", json()), file);
  impl->pre_tokenizer = PreTokenizer::from_json(root.value("pre_tokenizer", json()), file);
  check_decoder(root, impl->pre_tokenizer, file);
  impl->added = load_added(root, file);
  impl->raw_matcher = AddedTokenMatcher(impl->added, false);
  impl->normalized_matcher = AddedTokenMatcher(impl->added, true);

  impl->vocab_size = impl->bpe->id_count();
  for (const auto& a : impl->added) impl->vocab_size = std::max(impl->vocab_size, a.id + 1);
  impl->added_index.assign(impl->vocab_size, -1);
  for (size_t i = 0; i < impl->added.size(); ++i) {
    const AddedToken& a = impl->added[i];
    impl->added_index[a.id] = static_cast<int32_t>(i);
    std::string b;  // HF's ByteLevel decoder: alphabet chars -> bytes, else the UTF-8 as is
    if (!utf8::byte_level_decode(a.content, b)) b = a.content;
    impl->added_bytes.push_back(std::move(b));
  }
  Tokenizer tok(impl);
  std::string dir = parent_dir(file);
  load_tokenizer_configs(dir.empty() ? "." : dir, tok, *impl);
  return tok;
}

namespace {
// Runs the encode pipeline for one call; `reference` selects the slow obvious path.
struct Encoder {
  const Tokenizer::Impl& t;
  bool reference;
  std::vector<int32_t>& out;
  PreTokenizer::Scratch scratch;

  void pieces(std::string_view text, bool valid) {
    t.pre_tokenizer.run(text, valid, scratch, [&](std::string_view piece) {
      if (reference) t.bpe->encode_word_reference(piece, out);
      else t.bpe->encode_word(piece, out);
    });
  }
  void section(std::string_view text) {
    if (text.empty()) return;
    bool valid = utf8::is_ascii(text) || utf8::is_valid(text);
    std::string normalized;
    if (reference) {
      if (!t.normalizer.is_identity()) text = normalized = t.normalizer.apply_always(text);
    } else if (t.normalizer.apply(text, normalized)) {
      text = normalized;
    }
    size_t pos = 0;
    AddedTokenMatcher::Match m;
    while (t.normalized_matcher.find(text, pos, &m)) {
      pieces(text.substr(pos, m.start - pos), valid);
      out.push_back(m.id);
      pos = m.end;
    }
    pieces(text.substr(pos), valid);
  }
  void run(std::string_view text) {
    size_t pos = 0;
    AddedTokenMatcher::Match m;
    while (t.raw_matcher.find(text, pos, &m)) {
      section(text.substr(pos, m.start - pos));
      out.push_back(m.id);
      pos = m.end;
    }
    section(text.substr(pos));
  }
};
}  // namespace

std::vector<int32_t> Tokenizer::encode(const std::string& text) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  Encoder{*impl_, false, out, {}}.run(text);
  return out;
}

std::vector<int32_t> Tokenizer::encode_reference(const std::string& text) const {
  std::vector<int32_t> out;
  Encoder{*impl_, true, out, {}}.run(text);
  return out;
}

void Tokenizer::Impl::append_bytes(int32_t id, bool skip_special, std::string& out) const {
  if (id < 0 || id >= vocab_size) return;
  int32_t a = added_index[id];
  if (a >= 0) {
    if (!(skip_special && added[a].special)) out += added_bytes[a];
  } else if (bpe->has_id(id)) {
    out += bpe->token_bytes(id);
  }
}

std::string Tokenizer::decode_bytes(const std::vector<int32_t>& ids, bool skip_special) const {
  std::string out;
  for (int32_t id : ids) impl_->append_bytes(id, skip_special, out);
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  return utf8::lossy(decode_bytes(ids, skip_special));
}

int32_t Tokenizer::vocab_size() const { return impl_->vocab_size; }
std::vector<int32_t> Tokenizer::eos_ids() const { return impl_->eos; }
int32_t Tokenizer::pad_id() const { return impl_->pad; }
int32_t Tokenizer::bos_id() const { return impl_->bos; }
const std::vector<AddedToken>& Tokenizer::added_tokens() const { return impl_->added; }
const std::string& Tokenizer::path() const { return impl_->path; }
void Tokenizer::clear_cache() const { impl_->bpe->clear_cache(); }

std::optional<int32_t> Tokenizer::token_to_id(const std::string& tok) const {
  for (const auto& a : impl_->added)
    if (a.content == tok) return a.id;
  std::string bytes;
  if (!utf8::byte_level_decode(tok, bytes)) bytes = tok;
  return impl_->bpe->find(bytes);
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  if (id < 0 || id >= impl_->vocab_size) return std::nullopt;
  if (impl_->added_index[id] >= 0) return impl_->added[impl_->added_index[id]].content;
  if (!impl_->bpe->has_id(id)) return std::nullopt;
  return utf8::byte_level_encode(impl_->bpe->token_bytes(id));
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < impl_->vocab_size && impl_->added_index[id] >= 0 &&
         impl_->added[impl_->added_index[id]].special;
}

std::vector<int64_t> to_model_ids(const std::vector<int32_t>& ids) { return {ids.begin(), ids.end()}; }

std::vector<int32_t> to_tokenizer_ids(const std::vector<int64_t>& ids) {
  std::vector<int32_t> out;
  out.reserve(ids.size());
  for (int64_t id : ids) out.push_back(to_tokenizer_id(id));
  return out;
}

int32_t to_tokenizer_id(int64_t id) {
  const bool fits = id >= std::numeric_limits<int32_t>::min() && id <= std::numeric_limits<int32_t>::max();
  return fits ? static_cast<int32_t>(id) : -1;
}

StreamDecoder::StreamDecoder(const Tokenizer& tok, bool skip_special_tokens)
    : impl_(tok.impl_), skip_special_(skip_special_tokens) {}

std::string StreamDecoder::push(int32_t id) {
  impl_->append_bytes(id, skip_special_, pending_);
  std::string out;
  size_t used = utf8::append_lossy(pending_, out, /*stop_at_incomplete=*/true);
  pending_.erase(0, used);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = utf8::lossy(pending_);
  pending_.clear();
  return out;
}

}  // namespace rlvr
