// File helpers: whole-file reads/writes and JSON/JSONL parsing with file-naming errors.
#include "rlvr/core/files.h"

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "rlvr/core/error.h"

namespace rlvr {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  RLVR_CHECK(in.good(), path, ": cannot open (", std::strerror(errno), "); check the path");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text_file(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    RLVR_CHECK(out.good(), path, ": cannot write (", std::strerror(errno), ")");
    out << text;
    RLVR_CHECK(out.good(), path, ": write failed (disk full?)");
  }
  std::filesystem::rename(tmp, path);
}

bool file_exists(const std::string& path) { return std::filesystem::exists(path); }
bool is_directory(const std::string& path) { return std::filesystem::is_directory(path); }

namespace {
int remove_entry(const char* path, const struct stat*, int type, struct FTW*) {
  const int rc = (type == FTW_DP) ? ::rmdir(path) : ::unlink(path);
  return rc == 0 || errno == ENOENT ? 0 : -1;
}
}  // namespace

void remove_tree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return;  // nothing there
  if (::nftw(path.c_str(), remove_entry, 32, FTW_DEPTH | FTW_PHYS) != 0)
    throw Error("cannot remove '" + path + "': " + std::strerror(errno) +
                " (check permissions, or remove it by hand)");
}

void make_dirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  RLVR_CHECK(!ec, path, ": cannot create directory (", ec.message(), ")");
}

std::string join_path(const std::string& a, const std::string& b) {
  return (std::filesystem::path(a) / b).string();
}

nlohmann::json read_json_file(const std::string& path) {
  std::string text = read_text_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    fail(path, ": invalid JSON at byte ", e.byte, " (", e.what(), ")");
  }
}

void write_json_file(const std::string& path, const nlohmann::json& j, int indent) {
  write_text_file(path, j.dump(indent) + "\n");
}

std::vector<nlohmann::json> read_jsonl_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  RLVR_CHECK(in.good(), path, ": cannot open (", std::strerror(errno), "); check the path");
  std::vector<nlohmann::json> out;
  std::string line;
  size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      out.push_back(nlohmann::json::parse(line));
    } catch (const nlohmann::json::parse_error& e) {
      fail(path, ":", lineno, ": invalid JSON (", e.what(), ")");
    }
  }
  return out;
}

}  // namespace rlvr
