// safetensors reading (mmap, zero-copy CPU views) and writing, single files and sharded
// checkpoints (model.safetensors.index.json). Every malformed file is an rlvr::Error that names
// the file and the problem. Knows nothing of models: names in, tensors out.
#pragma once
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace rlvr {

struct TensorEntry {
  std::string name;
  std::string dtype;            // safetensors code: F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets inside the data section
};

struct MappedFile;  // the mmap'd bytes; tensors handed out keep it alive

class SafetensorsFile {
 public:
  // Maps and validates the whole header; throws rlvr::Error on any malformed input.
  static SafetensorsFile open(const std::string& path);
  const std::string& path() const { return path_; }
  const std::vector<TensorEntry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool has(const std::string& name) const { return index_.count(name) > 0; }
  // A CPU tensor viewing the mapped bytes (copy-on-write private mapping, so writes never
  // reach the file). Throws naming the file when the tensor is missing.
  torch::Tensor get(const std::string& name) const;
  // Drops the mapped pages that lie wholly inside tensor `name` from this process's memory, for a
  // loader done with it (copied or quantized): the next read maps them from the file again, and a
  // write made through a view of them is lost. No-op for an unknown name.
  void release(const std::string& name) const;

 private:
  std::string path_;
  std::shared_ptr<MappedFile> map_;
  std::vector<TensorEntry> entries_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
  size_t data_start_ = 0;  // byte offset of the data section
};

// A checkpoint directory (or a single .safetensors file): one file or shards listed in
// model.safetensors.index.json.
class Checkpoint {
 public:
  static Checkpoint open(const std::string& dir_or_file);
  bool has(const std::string& name) const { return where_.count(name) > 0; }
  torch::Tensor get(const std::string& name) const;  // error names the checkpoint when missing
  void release(const std::string& name) const;       // SafetensorsFile::release in its file
  std::vector<std::string> names() const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, size_t> where_;  // tensor name -> file index
};

// Writes tensors (any device; contiguous copies are made on CPU) with optional __metadata__.
void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

torch::Dtype safetensors_dtype(const std::string& code, const std::string& path_for_errors);
std::string safetensors_code(torch::Dtype dtype);

}  // namespace rlvr
