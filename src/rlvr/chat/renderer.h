// The tree-walking renderer (internal to the chat module): scopes, statements (renderer.cpp),
// expressions (eval.cpp), and the value operations they call: attributes, items and methods
// (methods.cpp), filters (filters.cpp), tests (tests.cpp), string functions (strings.cpp).
#pragma once
#include <memory>
#include <string>
#include <string_view>

#include "rlvr/chat/ast.h"
#include "rlvr/chat/template.h"
#include "rlvr/chat/value.h"
#include "rlvr/core/error.h"

namespace rlvr::jinja {

// An error that already names its line:column (inner nodes fail first; outer ones pass it on).
class PositionedError : public Error {
 public:
  using Error::Error;
};

struct Frame;
using FramePtr = std::shared_ptr<Frame>;

// The loop a frame is an iteration of: what `loop.*` reads.
struct LoopInfo {
  const Items* items;
  size_t index0;
};

// A scope. A for-loop iteration, a macro call and a with block each get a new one; `set` writes
// to the innermost; reads fall through to the parents (jinja2's scoping).
struct Frame {
  FramePtr parent;
  Entries vars;
  const LoopInfo* loop = nullptr;
  void set(const std::string& name, Value v);
};

class Renderer {
 public:
  Renderer(const std::string& name, const RenderOptions& opt) : name_(name), opt_(opt) {}
  enum class Flow { Normal, Break, Continue };
  Flow exec(const Body& body, const FramePtr& f, std::string& out);
  Value eval(const Expr& e, const FramePtr& f);
  // Calls macro (or a call block's caller) `m` defined in `scope` with `args`.
  Value call_macro(const Stmt& m, const std::weak_ptr<Frame>& scope, Args& args);
  void count_step();                  // a loop iteration or call; fails past max_steps
  void check_size(size_t bytes) const;  // a string or output size; fails past max_output
  const RenderOptions& options() const { return opt_; }
  [[noreturn]] void error_at(int line, int col, const std::string& msg) const;

 private:
  Value eval_node(const Expr& e, const FramePtr& f);
  Value lookup(const std::string& name, const FramePtr& f) const;
  Value loop_attr(const Frame& f, const std::string& attr) const;
  Value loop_value(const Frame& f) const;
  void exec_stmt(const Stmt& s, const FramePtr& f, std::string& out, Flow& flow);
  Value filter_chain(const Expr& last, std::string text, const FramePtr& f);
  void exec_if(const Stmt& s, const FramePtr& f, std::string& out, Flow& flow);
  void exec_for(const Stmt& s, const FramePtr& f, std::string& out);
  void exec_set(const Stmt& s, const FramePtr& f);
  void exec_call_block(const Stmt& s, const FramePtr& f, std::string& out);
  void bind(Frame& f, const Stmt& s, const Value& v) const;
  Items loop_items(const Stmt& s, const FramePtr& f);
  Value eval_call(const Expr& e, const FramePtr& f);
  void eval_args(const Expr& e, const FramePtr& f, Args& args, size_t first);
  Value eval_compare(const Expr& e, const FramePtr& f);
  Value eval_literal_container(const Expr& e, const FramePtr& f);
  Value eval_subscript(const Expr& e, const FramePtr& f);
  Value make_macro(const Stmt& s, const FramePtr& f) const;

  const std::string& name_;
  const RenderOptions& opt_;
  uint64_t steps_ = 0;
  int calls_ = 0;  // nested macro calls
  int depth_ = 0;  // nested exec() and eval(): bounds the C++ stack
  struct Nest {
    Renderer& r;
    explicit Nest(Renderer& renderer);
    ~Nest() { --r.depth_; }
  };
};

// Value operations (methods.cpp): jinja2's sandboxed attribute and item access (a dict's
// methods come before its keys for `.name`, after them for `[name]`), method calls on str,
// dict and list, slices, iteration and `in`.
Value get_attr(const Value& obj, const std::string& name);
Value get_item(const Value& obj, const Value& key);
bool has_method(const Value& obj, const std::string& name);
Value call_method(Renderer& r, const Value& obj, const std::string& name, Args& args);
Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step);
Items iterate(const Value& v);  // list items, dict keys, string characters; undefined: none
bool contains(const Value& container, const Value& item);
[[noreturn]] void undefined_error(const Value& v);

// Arithmetic (eval.cpp) and the filters and tests by name.
Value binary_op(Renderer& r, const std::string& op, const Value& a, const Value& b);
Value apply_filter(Renderer& r, const std::string& name, const Value& v, Args& args);
bool apply_test(Renderer& r, const std::string& name, const Value& v, Args& args);

// Python's str methods on UTF-8 (strings.cpp).
bool is_py_space(uint32_t cp);
std::string py_strip(const std::string& s, const Value& chars, bool left, bool right);
Items py_split(const std::string& s, const Value& sep, int64_t maxsplit);
std::string py_upper(const std::string& s);
std::string py_lower(const std::string& s);
std::string py_title(const std::string& s);       // str.title()
std::string jinja_title(const std::string& s);    // the `title` filter
std::string py_capitalize(const std::string& s);
std::string py_replace(const std::string& s, const std::string& old, const std::string& with, int64_t count);
size_t replace_bound(const std::string& s, const std::string& old, const std::string& with);  // result size, at most
std::vector<std::string> py_splitlines(const std::string& s);

}  // namespace rlvr::jinja
