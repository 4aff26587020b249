// Tokenizer tests: parity with reference Qwen2.5 encodings (HF tokenizers.js / tiktoken), GSM8K
// round trips, added tokens, byte-level tokenizer, streaming decode, config files, loader errors,
// GPT-2 / Llama-3 style options, fast path vs reference path, and the CLI.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/tokenizer/jsonl.h"
#include "rlvr/tokenizer/tokenizer.h"
#include "rlvr/tokenizer/utf8.h"
#include "testlib.h"

namespace rlvr {
namespace {

using json = nlohmann::json;
using Ids = std::vector<int32_t>;

std::string qwen_dir() { return join_path(test::shared_data(), "qwen-tokenizer"); }

const Tokenizer& qwen() {
  static const Tokenizer tok = Tokenizer::load(qwen_dir());
  return tok;
}

std::vector<json> gsm8k_rows(const std::string& split) {
  return read_jsonl_file(join_path(join_path(test::shared_data(), "gsm8k"), split + ".jsonl"));
}

// Expects `fn` to throw rlvr::Error whose message contains every one of `parts`.
template <typename Fn>
void expect_error(Fn fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "no rlvr::Error thrown";
  } catch (const Error& e) {
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos)
        << "message: " << e.what() << "\nmissing: " << p;
  }
}

// A small byte-level BPE tokenizer.json: ids 0..255 are bytes, then one id per merge result.
json small_bpe(const std::vector<std::pair<std::string, std::string>>& merges, json pre_tokenizer) {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[utf8::byte_level_encode(std::string(1, char(b)))] = b;
  json m = json::array();
  for (const auto& [a, b] : merges) {
    std::string ab = utf8::byte_level_encode(a + b);
    if (!vocab.contains(ab)) vocab[ab] = static_cast<int>(vocab.size());
    m.push_back(utf8::byte_level_encode(a) + " " + utf8::byte_level_encode(b));
  }
  json bl = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
  return {{"added_tokens", json::array()}, {"normalizer", nullptr},
          {"pre_tokenizer", pre_tokenizer}, {"decoder", bl},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", m}}}};
}

std::string write_tokenizer(const std::string& name, const json& j) {
  std::string dir = test::scratch_dir(name);
  write_json_file(join_path(dir, "tokenizer.json"), j);
  return dir;
}

TEST(Tokenizer, ReferenceEncodingsMatchIdsAndDecodeBack) {
  auto rows = read_jsonl_file(join_path(qwen_dir(), "reference_encodings.jsonl"));
  ASSERT_EQ(rows.size(), 538u);
  for (size_t i = 0; i < rows.size(); ++i) {
    std::string text = rows[i]["text"].get<std::string>();
    Ids want = rows[i]["ids"].get<Ids>();
    EXPECT_EQ(qwen().encode(text), want) << "line " << i + 1 << ": " << text;
    EXPECT_EQ(qwen().encode_reference(text), want) << "line " << i + 1;
    EXPECT_EQ(qwen().decode(want), text) << "line " << i + 1;
  }
}

TEST(Tokenizer, NfcReferenceEncodings) {
  auto rows = read_jsonl_file(join_path(qwen_dir(), "reference_encodings_nfc.jsonl"));
  ASSERT_EQ(rows.size(), 8u);
  for (const auto& r : rows) {
    std::string text = r["text"].get<std::string>();
    EXPECT_EQ(qwen().encode(text), r["ids"].get<Ids>()) << text;
    EXPECT_EQ(qwen().decode(r["ids"].get<Ids>()), r["decoded"].get<std::string>());
    EXPECT_NE(r["decoded"].get<std::string>(), text);  // the normalizer really changed it
  }
}

TEST(Tokenizer, Gsm8kRoundTripAndFastEqualsReference) {
  size_t n = 0;
  for (const char* split : {"train", "test"}) {
    for (const auto& row : gsm8k_rows(split)) {
      for (const char* key : {"question", "answer"}) {
        std::string text = row[key].get<std::string>();
        Ids ids = qwen().encode(text);
        ASSERT_EQ(qwen().decode(ids), text) << split << " " << key << ": " << text;
        if (n++ % 4 == 0) ASSERT_EQ(qwen().encode_reference(text), ids) << text;
      }
    }
  }
  EXPECT_EQ(n, 2u * (7473 + 1319));
}

TEST(Tokenizer, QwenFacts) {
  EXPECT_EQ(qwen().vocab_size(), 151665);
  EXPECT_EQ(qwen().eos_ids(), Ids({151645}));  // Instruct config, no generation_config.json
  EXPECT_EQ(qwen().pad_id(), 151643);
  EXPECT_EQ(qwen().bos_id(), -1);
  EXPECT_EQ(qwen().token_to_id("<|im_start|>"), 151644);
  EXPECT_EQ(qwen().token_to_id("Ġthe"), 279);
  EXPECT_FALSE(qwen().token_to_id("<|no_such_token|>").has_value());
  EXPECT_EQ(qwen().id_to_token(279), "Ġthe");
  EXPECT_TRUE(qwen().is_special(151645));
  EXPECT_FALSE(qwen().is_special(151657));  // <tool_call>: added but not special
}

TEST(Tokenizer, SpecialTokensInsideText) {
  const Tokenizer& t = qwen();
  Ids ids = t.encode("Hi<|im_end|>\n<tool_call>x</tool_call><|im_end");
  Ids hi = t.encode("Hi");
  ASSERT_GE(ids.size(), hi.size() + 3);
  EXPECT_EQ(ids[hi.size()], 151645);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 151657), 1);  // <tool_call> (special=false)
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 151658), 1);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 151645), 1);  // the cut "<|im_end" is plain text
  EXPECT_EQ(t.decode(ids), "Hi<|im_end|>\n<tool_call>x</tool_call><|im_end");
  EXPECT_EQ(t.decode(ids, /*skip_special_tokens=*/true), "Hi\n<tool_call>x</tool_call><|im_end");
  EXPECT_GT(t.encode("<think>").size(), 1u);  // not a token in Qwen2.5
  EXPECT_EQ(t.encode("<|endoftext|><|endoftext|>"), Ids({151643, 151643}));
}

TEST(Tokenizer, BaseConfigAndGenerationConfig) {
  std::string dir = test::scratch_dir("tok_base_config");
  write_text_file(join_path(dir, "tokenizer.json"),
                  read_text_file(join_path(qwen_dir(), "tokenizer.json")));
  write_text_file(join_path(dir, "tokenizer_config.json"),
                  read_text_file(join_path(qwen_dir(), "tokenizer_config_base.json")));
  write_json_file(join_path(dir, "generation_config.json"),
                  {{"eos_token_id", {151645, 151643}}, {"bos_token_id", 151643}});
  Tokenizer t = Tokenizer::load(dir);
  EXPECT_EQ(t.eos_ids(), Ids({151643, 151645}));
  EXPECT_EQ(t.bos_id(), -1);  // tokenizer_config says bos_token: null, which wins
}

TEST(Tokenizer, MergesAsPairsLoadTheSame) {  // Qwen3 stores merges as [a, b]
  json j = json::parse(read_text_file(join_path(qwen_dir(), "tokenizer.json")));
  json pairs = json::array();
  for (const auto& m : j["model"]["merges"]) {
    std::string s = m.get<std::string>();
    pairs.push_back({s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1)});
  }
  j["model"]["merges"] = pairs;
  Tokenizer t = Tokenizer::load(join_path(write_tokenizer("tok_pairs", j), "tokenizer.json"));
  auto rows = read_jsonl_file(join_path(qwen_dir(), "reference_encodings.jsonl"));
  for (size_t i = 0; i < rows.size(); i += 7)
    EXPECT_EQ(t.encode(rows[i]["text"].get<std::string>()), rows[i]["ids"].get<Ids>());
}

TEST(Tokenizer, ByteLevelTokenizerRoundTripsArbitraryBytes) {
  std::string dir = test::scratch_dir("tok_bytes");
  write_byte_level_tokenizer(dir);
  Tokenizer t = Tokenizer::load(dir);
  EXPECT_EQ(t.vocab_size(), 259);
  EXPECT_EQ(t.token_to_id("<|endoftext|>"), 256);
  EXPECT_EQ(t.eos_ids(), Ids({258}));
  EXPECT_EQ(t.pad_id(), 256);
  EXPECT_EQ(t.encode("a<|im_start|>é"), Ids({97, 257, 0xC3, 0xA9}));
  std::mt19937 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    std::string bytes(rng() % 40, '\0');
    for (auto& c : bytes) c = static_cast<char>(trial % 2 ? rng() % 256 : 0x80 + rng() % 0x80);
    Ids ids = t.encode(bytes);
    Ids want(bytes.begin(), bytes.end());
    for (auto& id : want) id &= 0xFF;
    ASSERT_EQ(ids, want);
    ASSERT_EQ(t.decode_bytes(ids), bytes);
    ASSERT_EQ(t.decode(ids), utf8::lossy(bytes));
    if (utf8::is_valid(bytes)) ASSERT_EQ(t.decode(ids), bytes);
  }
  // U+FFFD exactly where Rust's from_utf8_lossy (HF decode) puts it: one per maximal subpart.
  auto dec = [&](const std::string& b) {
    Ids ids;
    for (unsigned char c : b) ids.push_back(c);
    return t.decode(ids);
  };
  EXPECT_EQ(dec("\xff"), "\xEF\xBF\xBD");
  EXPECT_EQ(dec("\xe2\x82" "A"), "\xEF\xBF\xBD" "A");           // truncated 3-byte char
  EXPECT_EQ(dec("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(dec("\xf0\x9f\x98" "!"), "\xEF\xBF\xBD!");
  EXPECT_EQ(dec("\xc0\xaf"), "\xEF\xBF\xBD\xEF\xBF\xBD");        // overlong
  EXPECT_EQ(dec("\xf0\x9f\x98\x80"), "\xF0\x9F\x98\x80");        // valid emoji untouched
}

TEST(Tokenizer, StreamDecoderNeverSplitsACharacter) {
  const Tokenizer& t = qwen();
  for (std::string text : {"🤖 robots 👩‍👩‍👧 and flags 🇯🇵🇫🇷", "日本語のテキスト", "naïve café"}) {
    Ids ids = t.encode(text);
    StreamDecoder sd(t);
    std::string acc;
    int held_back = 0;
    for (int32_t id : ids) {
      std::string piece = sd.push(id);
      EXPECT_TRUE(utf8::is_valid(piece)) << text;
      EXPECT_EQ(piece.find("\xEF\xBF\xBD"), std::string::npos) << text;
      held_back += piece.empty();
      acc += piece;
    }
    acc += sd.flush();
    EXPECT_EQ(acc, text);
    if (text[0] == '\xF0') EXPECT_GT(held_back, 0);  // 🤖 spans several byte tokens
  }
  // Random byte streams: pieces are valid UTF-8 and concatenate to decode(ids).
  std::string dir = test::scratch_dir("tok_stream");
  write_byte_level_tokenizer(dir);
  Tokenizer b = Tokenizer::load(dir);
  std::mt19937 rng(11);
  for (int trial = 0; trial < 300; ++trial) {
    Ids ids(rng() % 30);
    for (auto& id : ids) id = rng() % 4 ? 0x80 + rng() % 0x78 : rng() % 259;
    StreamDecoder sd(b);
    std::string acc;
    for (int32_t id : ids) {
      std::string piece = sd.push(id);
      ASSERT_TRUE(utf8::is_valid(piece));
      acc += piece;
    }
    acc += sd.flush();
    ASSERT_EQ(acc, b.decode(ids));
  }
}

TEST(Tokenizer, UnsupportedModelTypeErrorNamesTypeAndFile) {
  for (const char* type : {"WordPiece", "Unigram"}) {
    json model = {{"type", type}, {"vocab", json::object({{"a", 0}})}};
    if (std::string(type) == "Unigram") model["vocab"] = json::array({json::array({"a", -1.0})});
    std::string dir = write_tokenizer(std::string("tok_") + type, {{"model", model}});
    expect_error([&] { Tokenizer::load(dir); },
                 {join_path(dir, "tokenizer.json"), std::string("model type '") + type + "'",
                  "not supported"});
  }
}

TEST(Tokenizer, MalformedTokenizerJsonErrors) {
  std::string dir = test::scratch_dir("tok_malformed");
  std::string file = join_path(dir, "tokenizer.json");
  write_text_file(file, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0,");
  expect_error([&] { Tokenizer::load(file); }, {file, "invalid JSON"});
  write_text_file(file, "{\"version\": \"1.0\"}");
  expect_error([&] { Tokenizer::load(file); }, {file, "no \"model\""});
  json j = small_bpe({}, nullptr);
  j["model"]["merges"] = {"a zz"};
  write_json_file(file, j);
  expect_error([&] { Tokenizer::load(file); }, {file, "model.merges[0]", "'zz'"});
  j = small_bpe({}, nullptr);
  j["model"]["vocab"]["a"] = "zero";
  write_json_file(file, j);
  expect_error([&] { Tokenizer::load(file); }, {file, "model.vocab"});
  j = small_bpe({}, {{"type", "Metaspace"}});
  write_json_file(file, j);
  expect_error([&] { Tokenizer::load(file); }, {file, "pre_tokenizer type 'Metaspace'"});
  expect_error([&] { Tokenizer::load(join_path(dir, "missing")); }, {"missing", "not found"});
}

TEST(Tokenizer, Gpt2StyleByteLevelRegexAndPrefixSpace) {
  auto merges = std::vector<std::pair<std::string, std::string>>{
      {"l", "l"}, {"h", "e"}, {"he", "ll"}, {"hell", "o"}, {" ", "w"}, {"o", "r"}};
  json pre = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  Tokenizer t = Tokenizer::load(write_tokenizer("tok_gpt2", small_bpe(merges, pre)));
  // ids: ll 256, he 257, hell 258, hello 259, " w" 260, or 261
  EXPECT_EQ(t.encode("hello world"), Ids({259, 260, 261, 'l', 'd'}));
  EXPECT_EQ(t.encode("hello  world"), Ids({259, ' ', 260, 261, 'l', 'd'}));  // \s+(?!\S)
  pre["add_prefix_space"] = true;
  Tokenizer p = Tokenizer::load(write_tokenizer("tok_gpt2_prefix", small_bpe(merges, pre)));
  EXPECT_EQ(p.encode("world"), Ids({260, 261, 'l', 'd'}));
  EXPECT_EQ(p.decode(p.encode("world")), " world");
}

TEST(Tokenizer, Llama3StyleIgnoreMergesAndAddedTokenFlags) {
  auto merges = std::vector<std::pair<std::string, std::string>>{{"a", "b"}};
  json pre = {{"type", "Sequence"},
              {"pretokenizers",
               {{{"type", "Split"}, {"pattern", {{"Regex", "\\p{L}+|\\s+|."}}},
                 {"behavior", "Isolated"}, {"invert", false}},
                {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
  json j = small_bpe(merges, pre);
  j["model"]["vocab"]["xyz"] = 300;  // reachable by no merge
  j["model"]["ignore_merges"] = true;
  j["added_tokens"] = {
      {{"id", 400}, {"content", "<s>"}, {"special", true}, {"normalized", false}},
      {{"id", 401}, {"content", "[M]"}, {"special", true}, {"lstrip", true}, {"rstrip", true},
       {"normalized", false}},
      {{"id", 402}, {"content", "ab"}, {"special", false}, {"single_word", true},
       {"normalized", false}}};
  Tokenizer t = Tokenizer::load(write_tokenizer("tok_llama3", j));
  EXPECT_EQ(t.vocab_size(), 403);
  EXPECT_EQ(t.encode("xyz"), Ids({300}));                      // whole word in vocab
  EXPECT_EQ(t.encode("xyzab"), Ids({'x', 'y', 'z', 256}));     // not in vocab: merges apply
  EXPECT_EQ(t.encode("x  [M]  y"), Ids({'x', 401, 'y'}));      // lstrip + rstrip eat spaces
  EXPECT_EQ(t.encode("ab cab"), Ids({402, ' ', 'c', 256}));    // single_word: not inside "cab"
  EXPECT_EQ(t.encode("<s>ab"), Ids({400, 402}));
  EXPECT_EQ(t.decode({400, 402, 'x'}, true), "abx");
}

// The one conversion point between the tokenizer's int32 ids and the model's int64 ids.
TEST(Tokenizer, ModelIdConversionRoundTripsAndSkipsOutOfRange) {
  const std::string text = "Hello, world! 123 <|im_end|>";
  const auto ids = qwen().encode(text);
  const std::vector<int64_t> model_ids = to_model_ids(ids);
  ASSERT_EQ(model_ids.size(), ids.size());
  EXPECT_EQ(to_tokenizer_ids(model_ids), ids);
  EXPECT_EQ(qwen().decode(to_tokenizer_ids(model_ids)), text);
  std::vector<int64_t> odd = model_ids;
  odd.push_back(int64_t{1} << 32);  // would wrap to id 0 ("!") if narrowed by a cast
  EXPECT_EQ(to_tokenizer_id(int64_t{1} << 32), -1);
  EXPECT_EQ(qwen().decode(to_tokenizer_ids(odd)), text);
}

TEST(Tokenizer, FastPathEqualsReferenceOnLongAndOddWords) {
  std::mt19937 rng(5);
  const char* alphabet[] = {"a", "e", "th", "in", " ", "1", "é", "\n", "'s", "日", "🙂", "\xff"};
  for (int trial = 0; trial < 200; ++trial) {
    std::string s;
    size_t n = trial < 20 ? 300 + rng() % 700 : rng() % 40;
    for (size_t i = 0; i < n; ++i) s += alphabet[rng() % (trial % 3 ? 6 : 12)];
    ASSERT_EQ(qwen().encode(s), qwen().encode_reference(s)) << s;
    ASSERT_EQ(qwen().decode_bytes(qwen().encode(s)), s);  // all of it is already NFC
  }
  std::string long_word(5000, 'a');
  EXPECT_EQ(qwen().encode(long_word), qwen().encode_reference(long_word));
  EXPECT_EQ(qwen().decode(qwen().encode(long_word)), long_word);
}

TEST(Tokenizer, ConcurrentEncodeMatchesSerial) {
  auto rows = gsm8k_rows("test");
  std::vector<std::string> texts;
  for (size_t i = 0; i < 200; ++i) texts.push_back(rows[i]["answer"].get<std::string>());
  std::vector<Ids> serial;
  qwen().clear_cache();
  for (const auto& s : texts) serial.push_back(qwen().encode_reference(s));
  std::vector<std::vector<Ids>> got(4);
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k)
    threads.emplace_back([&, k] {
      for (const auto& s : texts) got[k].push_back(qwen().encode(s));
    });
  for (auto& th : threads) th.join();
  for (int k = 0; k < 4; ++k) EXPECT_EQ(got[k], serial);
}

TEST(Tokenizer, JsonlLoopsAndLineErrors) {
  std::string out;
  auto sink = [&](std::string_view c) { out += c; };
  encode_jsonl(qwen(), "{\"text\": \"Hello world\"}\n\n{\"text\": \"<|im_end|>\"}\n", sink);
  EXPECT_EQ(out, "{\"ids\": [9707, 1879]}\n{\"ids\": [151645]}\n");
  out.clear();
  decode_jsonl(qwen(), "{\"ids\": [9707, 1879]}\n", sink);
  EXPECT_EQ(out, "{\"text\": \"Hello world\"}\n");
  out.clear();
  expect_error([&] { encode_jsonl(qwen(), "{\"text\": \"a\"}\n{\"txt\": 1}\n", sink); },
               {"stdin line 2", "\"text\""});
  EXPECT_EQ(out, "{\"ids\": [64]}\n");  // lines before the bad one were written
  expect_error([&] { decode_jsonl(qwen(), "{\"ids\": [1, \"x\"]}\n", sink); }, {"stdin line 1"});
  expect_error([&] { encode_jsonl(qwen(), "\n\n{oops\n", sink); }, {"stdin line 3", "invalid JSON"});
  expect_error([&] { encode_jsonl(qwen(), "{\"text\": \"\\ud800\"}\n", sink); }, {"stdin line 1"});
}

TEST(Tokenizer, JsonlFastPathAgreesWithFullParser) {
  // Escapes, odd spacing and extra keys: the direct {"text"} reader or the nlohmann fallback
  // must give exactly encode(text).
  std::vector<std::string> texts = {R"(caf\u00e9 \"quoted\"\n\ttab \\ slash\/)",
                                    R"(emoji \ud83d\ude00 <|im_end|>)", "plain", ""};
  for (const auto& t : texts) {
    std::string want = json::parse("\"" + t + "\"").get<std::string>();
    for (std::string line : {"{\"text\": \"" + t + "\"}", "  {\"text\"  :\"" + t + "\" }  ",
                             "{\"id\": 3, \"text\": \"" + t + "\"}"}) {
      std::string out;
      encode_jsonl(qwen(), line + "\n", [&](std::string_view c) { out += c; });
      EXPECT_EQ(json::parse(out)["ids"].get<Ids>(), qwen().encode(want)) << line;
    }
  }
}

TEST(Tokenizer, EscapedVocabKeysLoadTheSame) {  // GPT-2 files write "\u0120the"
  auto merges = std::vector<std::pair<std::string, std::string>>{
      {" ", "t"}, {" t", "h"}, {"\xc3", "\xa9"}, {"é", "!"}};
  json j = small_bpe(merges, nullptr);
  std::string dir = test::scratch_dir("tok_escaped");
  write_text_file(join_path(dir, "tokenizer.json"), j.dump(1, ' ', /*ensure_ascii=*/true));
  ASSERT_NE(read_text_file(join_path(dir, "tokenizer.json")).find("\\u0120"), std::string::npos);
  Tokenizer t = Tokenizer::load(dir);
  EXPECT_EQ(t.encode(" th"), Ids({257}));
  EXPECT_EQ(t.encode("é!"), Ids({259}));
}

TEST(TokenizerCli, TokenizeDecodeInitAndBench) {
  std::string bin = test::rlvr_bin();
  auto r = test::run_cmd(bin + " tokenize --tokenizer " + qwen_dir(),
                         "{\"text\": \"Hello world\"}\n{\"text\": \"2+2=4\"}\n");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "{\"ids\": [9707, 1879]}\n{\"ids\": [17, 10, 17, 28, 19]}\n");
  r = test::run_cmd(bin + " tokenize --decode --tokenizer " + qwen_dir(), "{\"ids\": [9707]}\n");
  EXPECT_EQ(r.out, "{\"text\": \"Hello\"}\n");
  r = test::run_cmd(bin + " tokenize --tokenizer " + qwen_dir(), "{\"text\": \"ok\"}\nnot json\n");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("stdin line 2"), std::string::npos) << r.err;

  std::string dir = test::scratch_dir("tok_cli_init");
  r = test::run_cmd(bin + " init-tokenizer --byte-level --out " + dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(Tokenizer::load(dir).vocab_size(), 259);
  r = test::run_cmd(bin + " init-tokenizer --out " + dir);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--byte-level"), std::string::npos);

  std::string data = join_path(dir, "data.jsonl");
  write_text_file(data, "{\"question\": \"What is 2+2?\", \"answer\": \"4\"}\n{\"text\": \"hi\"}\n");
  r = test::run_cmd(bin + " bench tokenizer --reps 3 --tokenizer " + qwen_dir() + " --data " + data);
  ASSERT_EQ(r.status, 0) << r.err;
  std::string last = r.out.substr(r.out.rfind('{'));
  json j = json::parse(last);
  EXPECT_GT(j["mb_per_s"].get<double>(), 0.0);
  size_t tokens = qwen().encode("What is 2+2?").size() + qwen().encode("4").size() +
                  qwen().encode("hi").size();
  EXPECT_EQ(j["tokens"].get<size_t>(), tokens);
  for (const char* sub : {"tokenize", "init-tokenizer", "bench tokenizer"}) {
    r = test::run_cmd(bin + " " + sub + " --help");
    EXPECT_EQ(r.status, 0) << sub;
    EXPECT_NE(r.out.find("--"), std::string::npos) << sub;
  }
}

}  // namespace
}  // namespace rlvr
