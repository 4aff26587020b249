// safetensors: header validation, mmap-backed zero-copy tensors, sharded index, writer.
// Format: 8-byte little-endian header length N, N bytes of JSON, then the data section.
#include "rlvr/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"

namespace rlvr {

struct MappedFile {
  void* addr = nullptr;
  size_t size = 0;
  ~MappedFile() {
    if (addr && size) munmap(addr, size);
  }
};

namespace {

struct DtypeInfo {
  const char* code;
  torch::Dtype dtype;
  size_t bytes;
};
const DtypeInfo kDtypes[] = {
    {"F64", torch::kFloat64, 8}, {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2},
    {"BF16", torch::kBFloat16, 2}, {"I64", torch::kInt64, 8}, {"I32", torch::kInt32, 4},
    {"I16", torch::kInt16, 2},   {"I8", torch::kInt8, 1},      {"U8", torch::kUInt8, 1},
    {"BOOL", torch::kBool, 1},
};

const DtypeInfo& dtype_info(const std::string& code, const std::string& path) {
  for (const auto& d : kDtypes)
    if (code == d.code) return d;
  fail(path, ": unknown dtype '", code,
       "' (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)");
}

std::shared_ptr<MappedFile> map_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  RLVR_CHECK(fd >= 0, path, ": cannot open (", std::strerror(errno), "); check the path");
  struct stat st {};
  fstat(fd, &st);
  auto m = std::make_shared<MappedFile>();
  m->size = static_cast<size_t>(st.st_size);
  if (m->size > 0) {
    // Private + writable: copy-on-write, so a caller writing into a view never touches the file.
    m->addr = mmap(nullptr, m->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (m->addr == MAP_FAILED) {
      m->addr = nullptr;
      ::close(fd);
      fail(path, ": mmap failed (", std::strerror(errno), ")");
    }
  }
  ::close(fd);
  return m;
}

}  // namespace

torch::Dtype safetensors_dtype(const std::string& code, const std::string& path) {
  return dtype_info(code, path).dtype;
}

std::string safetensors_code(torch::Dtype dtype) {
  for (const auto& d : kDtypes)
    if (d.dtype == dtype) return d.code;
  fail("safetensors: cannot store dtype ", c10::toString(dtype));
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  SafetensorsFile f;
  f.path_ = path;
  f.map_ = map_file(path);
  const size_t size = f.map_->size;
  RLVR_CHECK(size >= 8, path, ": truncated file (", size,
             " bytes; a safetensors file starts with an 8-byte header length)");
  const auto* bytes = static_cast<const unsigned char*>(f.map_->addr);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = (hlen << 8) | bytes[i];
  RLVR_CHECK(hlen <= size - 8, path, ": header length ", hlen, " runs past the end of the file (",
             size, " bytes); the file is truncated or not safetensors");
  const size_t data_size = size - 8 - hlen;
  f.data_start_ = 8 + hlen;
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(reinterpret_cast<const char*>(bytes) + 8,
                                   reinterpret_cast<const char*>(bytes) + 8 + hlen);
  } catch (const nlohmann::json::exception& e) {  // a parse error, or a number out of range
    fail(path, ": header is not valid JSON (", e.what(), ")");
  }
  RLVR_CHECK(header.is_object(), path, ": header must be a JSON object");
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      RLVR_CHECK(v.is_object(), path, ": __metadata__ must be an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        RLVR_CHECK(m.value().is_string(), path, ": __metadata__ value of '", m.key(),
                   "' must be a string");
        f.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    RLVR_CHECK(v.is_object() && v.contains("dtype") && v.contains("shape") &&
                   v.contains("data_offsets"),
               path, ": tensor '", name, "' needs dtype, shape and data_offsets");
    RLVR_CHECK(v["dtype"].is_string(), path, ": tensor '", name, "': dtype must be a string");
    TensorEntry e;
    e.name = name;
    e.dtype = v["dtype"].get<std::string>();
    const DtypeInfo& di = dtype_info(e.dtype, path + " (tensor '" + name + "')");
    RLVR_CHECK(v["shape"].is_array(), path, ": tensor '", name, "': shape must be an array");
    uint64_t numel = 1;
    for (const auto& d : v["shape"]) {
      RLVR_CHECK(d.is_number_integer() && d.get<int64_t>() >= 0, path, ": tensor '", name,
                 "': shape entries must be non-negative integers");
      e.shape.push_back(d.get<int64_t>());
      numel *= static_cast<uint64_t>(e.shape.back());
    }
    const auto& off = v["data_offsets"];
    RLVR_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() &&
                   off[1].is_number_unsigned(),
               path, ": tensor '", name, "': data_offsets must be [begin, end]");
    e.begin = off[0].get<uint64_t>();
    e.end = off[1].get<uint64_t>();
    RLVR_CHECK(e.begin <= e.end && e.end <= data_size, path, ": tensor '", name,
               "': data_offsets [", e.begin, ", ", e.end, "] out of range (data section has ",
               data_size, " bytes); the file is truncated or corrupt");
    RLVR_CHECK(e.end - e.begin == numel * di.bytes, path, ": tensor '", name, "': shape/bytes mismatch (",
               numel, " elements of ", e.dtype, " need ", numel * di.bytes, " bytes, offsets give ",
               e.end - e.begin, ")");
    f.entries_.push_back(std::move(e));
  }
  std::vector<const TensorEntry*> sorted;
  for (const auto& e : f.entries_) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(),
            [](const TensorEntry* a, const TensorEntry* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < sorted.size(); ++i)
    RLVR_CHECK(sorted[i]->begin >= sorted[i - 1]->end || sorted[i - 1]->begin == sorted[i - 1]->end,
               path, ": tensors '", sorted[i - 1]->name, "' and '", sorted[i]->name,
               "' overlap in the data section; the file is corrupt");
  for (size_t i = 0; i < f.entries_.size(); ++i) f.index_[f.entries_[i].name] = i;
  return f;
}

torch::Tensor SafetensorsFile::get(const std::string& name) const {
  auto it = index_.find(name);
  RLVR_CHECK(it != index_.end(), path_, ": missing tensor '", name, "'");
  const TensorEntry& e = entries_[it->second];
  const DtypeInfo& di = dtype_info(e.dtype, path_);
  void* ptr = static_cast<char*>(map_->addr) + data_start_ + e.begin;
  auto keep = map_;
  if (e.end == e.begin) return torch::empty(e.shape, torch::TensorOptions().dtype(di.dtype));
  return torch::from_blob(ptr, e.shape, [keep](void*) {}, torch::TensorOptions().dtype(di.dtype));
}

void SafetensorsFile::release(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) return;
  const TensorEntry& e = entries_[it->second];
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t base = reinterpret_cast<uintptr_t>(map_->addr) + data_start_;
  const uintptr_t from = (base + e.begin + page - 1) / page * page, to = (base + e.end) / page * page;
  if (to > from) madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);  // advice: failure is harmless
}

Checkpoint Checkpoint::open(const std::string& dir_or_file) {
  Checkpoint c;
  c.path_ = dir_or_file;
  std::vector<std::string> shard_paths;
  if (!is_directory(dir_or_file)) {
    shard_paths.push_back(dir_or_file);
  } else {
    std::string index = join_path(dir_or_file, "model.safetensors.index.json");
    std::string single = join_path(dir_or_file, "model.safetensors");
    if (file_exists(index)) {
      auto j = read_json_file(index);
      RLVR_CHECK(j.contains("weight_map") && j["weight_map"].is_object(), index,
                 ": missing object 'weight_map'");
      std::map<std::string, size_t> shard_ids;
      std::map<std::string, std::string> wanted;
      for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
        RLVR_CHECK(it.value().is_string(), index, ": weight_map value for '", it.key(),
                   "' must be a file name");
        std::string shard = it.value().get<std::string>();
        if (!shard_ids.count(shard)) {
          shard_ids[shard] = shard_paths.size();
          shard_paths.push_back(join_path(dir_or_file, shard));
        }
        wanted[it.key()] = shard;
      }
      for (const auto& p : shard_paths) c.files_.push_back(SafetensorsFile::open(p));
      for (const auto& [name, shard] : wanted) {
        size_t idx = shard_ids[shard];
        RLVR_CHECK(c.files_[idx].has(name), index, ": lists '", name, "' in ", shard,
                   " but that shard does not contain it");
        c.where_[name] = idx;
      }
      return c;
    }
    RLVR_CHECK(file_exists(single), dir_or_file,
               ": no model.safetensors or model.safetensors.index.json in this directory");
    shard_paths.push_back(single);
  }
  c.files_.push_back(SafetensorsFile::open(shard_paths[0]));
  for (const auto& e : c.files_[0].entries()) c.where_[e.name] = 0;
  return c;
}

torch::Tensor Checkpoint::get(const std::string& name) const {
  auto it = where_.find(name);
  RLVR_CHECK(it != where_.end(), path_, ": missing tensor '", name,
             "'; the checkpoint does not match the model config");
  return files_[it->second].get(name);
}

void Checkpoint::release(const std::string& name) const {
  auto it = where_.find(name);
  if (it != where_.end()) files_[it->second].release(name);
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  for (const auto& [n, i] : where_) out.push_back(n);
  return out;
}

void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> cpu;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    RLVR_CHECK(name != "__metadata__" && !header.contains(name), path, ": duplicate tensor name '",
               name, "'");
    torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
    uint64_t nbytes = static_cast<uint64_t>(c.numel()) * c.element_size();
    header[name] = {{"dtype", safetensors_code(c.scalar_type())},
                    {"shape", c.sizes().vec()},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    cpu.push_back(c);
  }
  std::string h = header.dump();
  while ((8 + h.size()) % 8 != 0) h.push_back(' ');
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    RLVR_CHECK(out.good(), path, ": cannot write (", std::strerror(errno), ")");
    uint64_t n = h.size();
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xff);
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(h.data(), static_cast<std::streamsize>(h.size()));
    for (const auto& c : cpu)
      out.write(static_cast<const char*>(c.data_ptr()),
                static_cast<std::streamsize>(c.numel() * c.element_size()));
    RLVR_CHECK(out.good(), path, ": write failed (disk full?)");
  }
  rename_path(tmp, path);
}

}  // namespace rlvr
