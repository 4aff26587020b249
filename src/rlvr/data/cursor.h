// A resumable position in a shuffled dataset: (epoch, position, seed) -> the next batch of
// indices; each epoch is a fresh seeded permutation. Serialises to/from JSON for checkpoints.
// Knows only the dataset size, never the problems.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <vector>

namespace rlvr {

class DataCursor {
 public:
  DataCursor() = default;
  // size: number of problems (> 0); shuffle false walks 0..size-1 in file order every epoch.
  DataCursor(int64_t size, uint64_t seed, bool shuffle = true);
  // The next `batch` indices (B); a batch that runs past the end continues into the next epoch.
  std::vector<int64_t> next(int64_t batch);
  // Index at `position` of the current epoch, without advancing.
  int64_t index_at(int64_t position) const;

  int64_t epoch() const { return epoch_; }
  int64_t position() const { return position_; }
  int64_t size() const { return size_; }
  uint64_t seed() const { return seed_; }

  nlohmann::json to_json() const;  // {"epoch","position","seed","size","shuffle"}
  // Throws rlvr::Error when the saved size differs from `size` (the dataset changed).
  static DataCursor from_json(const nlohmann::json& j, int64_t size);

 private:
  void start_epoch();

  int64_t size_ = 0;
  uint64_t seed_ = 0;
  bool shuffle_ = true;
  int64_t epoch_ = 0;
  int64_t position_ = 0;
  std::vector<int64_t> order_;  // (size) permutation of the current epoch
};

}  // namespace rlvr
