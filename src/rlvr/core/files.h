// Small file helpers that report problems as rlvr::Error naming the path.
// No parsing beyond JSON / JSONL here; formats live in io/.
// All of them use POSIX calls, never std::filesystem: pip builds of libtorch 2.x export their own
// copies of libstdc++'s filesystem functions, and calls that bind to those crash (seen on the GPU
// machine: remove_all, copy). Code in a torch-linked binary uses these helpers instead.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace rlvr {

std::string read_text_file(const std::string& path);
void write_text_file(const std::string& path, const std::string& text);
bool file_exists(const std::string& path);
bool is_directory(const std::string& path);
void make_dirs(const std::string& path);
// rm -rf: removes a file or a directory tree (symbolic links are removed, not followed); a
// missing path is not an error. POSIX nftw, not std::filesystem::remove_all: pip builds of
// libtorch 2.x export their own copy of that function, which crashes when it is interposed.
void remove_tree(const std::string& path);
std::string join_path(const std::string& a, const std::string& b);
// The directory part of a path ("" when it has none) and its last component.
std::string parent_dir(const std::string& path);
std::string base_name(const std::string& path);
// Atomic within a filesystem: `to` is replaced whole (files) or must not exist (directories).
void rename_path(const std::string& from, const std::string& to);
// Copies a regular file, replacing `to` whole (written beside it, then renamed).
void copy_file(const std::string& from, const std::string& to);
// The absolute path with symbolic links, "." and ".." resolved (realpath), also for a path that
// does not exist yet: its longest existing ancestor is resolved and the rest appended, ".."
// taken as make_dirs would (the missing folder is created, then left).
std::string real_path(const std::string& path);
// Names of the entries of a directory (no "." or ".."), sorted.
std::vector<std::string> list_dir(const std::string& path);

// Parses a whole JSON file; errors name the file, line and column.
nlohmann::json read_json_file(const std::string& path);
void write_json_file(const std::string& path, const nlohmann::json& j, int indent = 2);
// One JSON value per non-empty line; errors name file and line number.
std::vector<nlohmann::json> read_jsonl_file(const std::string& path);

}  // namespace rlvr
