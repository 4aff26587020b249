// File helpers: whole-file reads/writes and JSON/JSONL parsing with file-naming errors.
#include "rlvr/core/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <algorithm>
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
  rename_path(tmp, path);
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void rename_path(const std::string& from, const std::string& to) {
  RLVR_CHECK(::rename(from.c_str(), to.c_str()) == 0, "cannot rename '", from, "' to '", to, "': ",
             std::strerror(errno));
}

void copy_file(const std::string& from, const std::string& to) { write_text_file(to, read_text_file(from)); }

std::string real_path(const std::string& path) {
  std::string head = path.empty() ? "." : path;
  std::vector<std::string> missing;  // components below the longest existing ancestor, last first
  char buf[PATH_MAX];
  while (::realpath(head.c_str(), buf) == nullptr) {
    if (head == "." || head == "/") return path;  // nothing resolves (e.g. a deleted cwd)
    missing.push_back(base_name(head));
    const std::string parent = parent_dir(head);
    head = parent.empty() ? "." : parent;
  }
  std::string out = buf;
  bool climbed = false;
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (*it == "..") {
      out = parent_dir(out);
      climbed = true;
    } else if (*it != ".") {
      out = join_path(out, *it);
    }
  }
  return climbed ? real_path(out) : out;  // ".." may have led back into existing folders
}

std::vector<std::string> list_dir(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  RLVR_CHECK(d != nullptr, path, ": cannot list directory (", std::strerror(errno), ")");
  std::vector<std::string> names;
  while (const struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

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
  if (path.empty() || is_directory(path)) return;
  const std::string parent = parent_dir(path);
  if (!parent.empty() && parent != path) make_dirs(parent);
  if (::mkdir(path.c_str(), 0777) != 0 && errno != EEXIST)
    fail(path, ": cannot create directory (", std::strerror(errno), ")");
  RLVR_CHECK(is_directory(path), path, ": cannot create directory (a file of that name exists)");
}

std::string join_path(const std::string& a, const std::string& b) {
  if (a.empty() || (!b.empty() && b[0] == '/')) return b;  // like std::filesystem's operator/
  return a.back() == '/' ? a + b : a + "/" + b;
}

std::string parent_dir(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  const size_t slash = p.rfind('/');
  if (slash == std::string::npos) return "";
  if (slash == 0) return "/";
  return p.substr(0, slash);
}

std::string base_name(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  const size_t slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

nlohmann::json read_json_file(const std::string& path) {
  std::string text = read_text_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    fail(path, ": invalid JSON at byte ", e.byte, " (", e.what(), ")");
  } catch (const nlohmann::json::exception& e) {  // e.g. a number out of range ("1e999")
    fail(path, ": invalid JSON (", e.what(), ")");
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
    } catch (const nlohmann::json::exception& e) {  // a parse error, or a number out of range
      fail(path, ":", lineno, ": invalid JSON (", e.what(), ")");
    }
  }
  return out;
}

}  // namespace rlvr
