// The syntax tree of a template: expressions and statements, each with its line:column.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rlvr/chat/value.h"

namespace rlvr::jinja {

enum class ExprKind {
  Literal,    // value
  Name,       // name
  Getattr,    // kids[0].name
  Getitem,    // kids[0][kids[1]]
  Slice,      // kids[0][kids[1]:kids[2]:kids[3]] (null kids are omitted bounds)
  Call,       // kids[0](kids[1..], kwargs)
  Filter,     // kids[0] | name(kids[1..], kwargs); kids[0] null in a filter block
  Test,       // kids[0] is name(kids[1..], kwargs)
  Not,        // not kids[0]
  Neg,        // -kids[0]
  Pos,        // +kids[0]
  Binary,     // kids[0] op kids[1]: + - * / // % ** ~
  Compare,    // kids[0] ops[0] kids[1] ops[1] kids[2] ...: == != < <= > >= in notin
  And,        // kids[0] and kids[1]
  Or,         // kids[0] or kids[1]
  Cond,       // kids[1] if kids[0] else kids[2] (kids[2] null: undefined)
  List,       // [kids...]
  Tuple,      // (kids...)
  Dict,       // {kids[0]: kids[1], ...}
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  ExprKind kind;
  int line = 0, col = 0;
  Value value;       // Literal
  std::string name;  // Name, Getattr, Filter, Test; Binary's operator
  std::vector<ExprPtr> kids;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;  // Compare
};

enum class StmtKind {
  Text,      // text
  Output,    // {{ expr }}
  If,        // conds[k] -> bodies[k]; bodies.back() without a condition is the else
  For,       // for targets in expr [if cond] : bodies[0], else bodies[1]
  Set,       // set targets = expr, or set targets[0].attr = expr (a namespace)
  SetBlock,  // set targets[0] [| filter] : bodies[0]
  Macro,     // macro name(params) : bodies[0]
  CallBlock, // call(params) expr : bodies[0]
  FilterBlock,  // filter expr (a Filter chain on the body) : bodies[0]
  With,      // with targets[k] = conds[k] : bodies[0]
  Scope,     // generation / endgeneration (transformers' assistant mask): bodies[0]
  Break,
  Continue,
};

struct Stmt;
using Body = std::vector<std::unique_ptr<Stmt>>;

struct Stmt {
  StmtKind kind;
  int line = 0, col = 0;
  std::string text;  // Text; Macro name; Set's namespace attribute
  ExprPtr expr;      // Output, For iterable, Set value, CallBlock call, FilterBlock / SetBlock filter
  ExprPtr cond;      // For's filter
  std::vector<ExprPtr> conds;  // If conditions, With values
  std::vector<std::string> targets;
  bool unpack = false;  // For / Set targets written as a tuple
  std::vector<std::pair<std::string, ExprPtr>> params;  // Macro / CallBlock parameters, defaults
  std::vector<Body> bodies;
};

}  // namespace rlvr::jinja
