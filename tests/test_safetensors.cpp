// safetensors: round trips for every dtype, sharded checkpoints, metadata, and one test per
// malformed-file case checking that the error names the file and the problem.
#include <gtest/gtest.h>

#include <fstream>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/io/safetensors.h"
#include "testlib.h"

using namespace rlvr;

namespace {

std::string write_raw(const std::string& path, const std::string& header, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << header << data;
  return path;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Safetensors, RoundTripAllDtypes) {
  auto dir = test::scratch_dir("st_roundtrip");
  std::vector<std::pair<std::string, torch::Tensor>> ts = {
      {"f32", torch::randn({3, 4})},
      {"f16", torch::randn({5}).to(torch::kFloat16)},
      {"bf16", torch::randn({2, 2, 2}).to(torch::kBFloat16)},
      {"i64", torch::arange(7, torch::kInt64)},
      {"i32", torch::arange(6, torch::kInt32).view({2, 3})},
      {"i8", torch::tensor({-3, 4, 127}, torch::kInt8)},
      {"u8", torch::tensor({0, 200, 255}, torch::kUInt8)},
      {"bool", torch::tensor({true, false, true})},
      {"scalar", torch::tensor(3.5f)},
      {"empty", torch::zeros({0, 4})},
  };
  save_safetensors(dir + "/a.safetensors", ts, {{"format", "pt"}, {"note", "hi"}});
  auto f = SafetensorsFile::open(dir + "/a.safetensors");
  EXPECT_EQ(f.metadata().at("note"), "hi");
  for (const auto& [name, t] : ts) {
    auto got = f.get(name);
    EXPECT_EQ(got.scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(got.sizes(), t.sizes()) << name;
    EXPECT_TRUE(got.equal(t)) << name;
  }
  // Writes to a view never reach the file (private mapping).
  f.get("f32").fill_(0);
  EXPECT_TRUE(SafetensorsFile::open(dir + "/a.safetensors").get("f32").equal(ts[0].second));
}

TEST(Safetensors, ShardedIndex) {
  auto dir = test::scratch_dir("st_sharded");
  auto a = torch::randn({4}), b = torch::randn({2, 3});
  save_safetensors(dir + "/model-00001-of-00002.safetensors", {{"a", a}});
  save_safetensors(dir + "/model-00002-of-00002.safetensors", {{"b", b}});
  write_json_file(dir + "/model.safetensors.index.json",
                  {{"metadata", {{"total_size", 40}}},
                   {"weight_map",
                    {{"a", "model-00001-of-00002.safetensors"},
                     {"b", "model-00002-of-00002.safetensors"}}}});
  auto c = Checkpoint::open(dir);
  EXPECT_TRUE(c.get("a").equal(a));
  EXPECT_TRUE(c.get("b").equal(b));
  EXPECT_EQ(c.names().size(), 2u);
  EXPECT_NE(error_of([&] { c.get("zzz"); }).find("missing tensor 'zzz'"), std::string::npos);
  // An index naming a tensor its shard lacks.
  write_json_file(dir + "/model.safetensors.index.json",
                  {{"weight_map", {{"a", "model-00002-of-00002.safetensors"}}}});
  EXPECT_NE(error_of([&] { Checkpoint::open(dir); }).find("that shard does not contain it"),
            std::string::npos);
}

struct BadCase {
  const char* name;
  std::string header;
  std::string data;
  const char* expect;
};

TEST(Safetensors, MalformedFilesGiveClearErrors) {
  auto dir = test::scratch_dir("st_bad");
  std::string eight(8, '\0');
  std::vector<BadCase> cases = {
      {"header_past_end", "", "", "runs past the end"},
      {"invalid_json", "{\"a\": [1,", "", "not valid JSON"},
      {"unknown_dtype", R"({"a":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}})", "x",
       "unknown dtype 'F8'"},
      {"out_of_range", R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", eight,
       "out of range"},
      {"shape_mismatch", R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight,
       "shape/bytes mismatch"},
      {"overlap",
       R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
       eight, "overlap"},
      {"not_object", "[1,2]", "", "must be a JSON object"},
      {"missing_fields", R"({"a":{"dtype":"F32"}})", "", "needs dtype, shape and data_offsets"},
      {"negative_shape", R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", "",
       "non-negative"},
  };
  for (const auto& c : cases) {
    std::string path = dir + "/" + c.name + ".safetensors";
    if (std::string(c.name) == "header_past_end") {
      std::ofstream out(path, std::ios::binary);
      uint64_t n = 1000;
      for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
      out << "{}";
    } else {
      write_raw(path, c.header, c.data);
    }
    std::string msg = error_of([&] { SafetensorsFile::open(path); });
    EXPECT_NE(msg.find(path), std::string::npos) << c.name << ": " << msg;
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.name << ": " << msg;
  }
}

TEST(Safetensors, TruncatedAndMissingFiles) {
  auto dir = test::scratch_dir("st_trunc");
  save_safetensors(dir + "/ok.safetensors", {{"w", torch::randn({64})}});
  std::string bytes = read_text_file(dir + "/ok.safetensors");
  write_text_file(dir + "/cut.safetensors", bytes.substr(0, bytes.size() - 10));
  std::string msg = error_of([&] { SafetensorsFile::open(dir + "/cut.safetensors"); });
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  write_text_file(dir + "/tiny.safetensors", "abc");
  msg = error_of([&] { SafetensorsFile::open(dir + "/tiny.safetensors"); });
  EXPECT_NE(msg.find("truncated file"), std::string::npos) << msg;
  msg = error_of([&] { SafetensorsFile::open(dir + "/nope.safetensors"); });
  EXPECT_NE(msg.find("cannot open"), std::string::npos) << msg;
  auto f = SafetensorsFile::open(dir + "/ok.safetensors");
  msg = error_of([&] { f.get("absent"); });
  EXPECT_NE(msg.find("missing tensor 'absent'"), std::string::npos) << msg;
  msg = error_of([&] { Checkpoint::open(dir + "/nodir"); });
  EXPECT_FALSE(msg.empty());
}

// release() drops a tensor's pages from the process; the next read maps them from the file again,
// so a view reads the same values, and a write made through a view (copy-on-write) is dropped too.
TEST(Safetensors, ReleaseKeepsTheValuesAndDropsPrivateWrites) {
  auto dir = test::scratch_dir("st_release");
  const std::string path = dir + "/m.safetensors";
  const torch::Tensor big = torch::arange(1 << 20, torch::kFloat32);  // 4 MiB: whole pages inside
  save_safetensors(path, {{"a", torch::ones({3})}, {"big", big}});
  const Checkpoint ckpt = Checkpoint::open(path);
  torch::Tensor view = ckpt.get("big");
  view.fill_(-1.0f);
  ckpt.release("big");
  ckpt.release("no such tensor");
  EXPECT_TRUE(torch::equal(view.narrow(0, 4096, (1 << 20) - 8192), big.narrow(0, 4096, (1 << 20) - 8192)));
  EXPECT_TRUE(torch::equal(ckpt.get("a"), torch::ones({3})));
}
